"""Recipes (the declared use of data) and the reports built from policy, recipes and decisions."""
