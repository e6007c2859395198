"""Pages for people: the preference page and "why am I seeing this", opened by a link.

A company's backend asks for a short-lived signed link (`link_views.py`); the person's
browser opens it without an API key (`views.py`, server-rendered Jinja on the shared
layout). The pages call the same services as the API: the ledger, decisions and
explanations.
"""
