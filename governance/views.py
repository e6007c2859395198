"""HTTP views of recipes (privacy leads, engines) and governance reports (legal)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from consentry.auth import current_principal, scoped
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from governance import recipes
from governance.schemas import (
    ReachSchema,
    RecipeListSchema,
    RecipeQuerySchema,
    RecipeSchema,
    RecipeWriteSchema,
)

blp = Blueprint("governance", __name__, description="Recipes and governance reports")


@blp.route("/v1/recipes")
class Recipes(MethodView):
    @scoped("recipes:read")
    @blp.response(200, RecipeListSchema)
    def get(self):
        """The latest version of every recipe."""
        policy = get_policy()
        return {"recipes": [recipes.recipe_view(r, policy)
                            for r in recipes.list_recipes(get_session())]}


@blp.route("/v1/recipes/<recipe_id>")
class Recipe(MethodView):
    @scoped("recipes:read")
    @blp.arguments(RecipeQuerySchema(), location="query")
    @blp.response(200, RecipeSchema)
    def get(self, args, recipe_id):
        """A recipe: its latest version, or `?version=N`."""
        return recipes.recipe_view(recipes.get_recipe(get_session(), recipe_id, args["version"]),
                                   get_policy())

    @scoped("recipes:write")
    @blp.arguments(RecipeWriteSchema())
    @blp.response(200, RecipeSchema)
    def put(self, body, recipe_id):
        """Store a recipe; a change makes a new (audited) version, the same content none.

        Purpose, channels and categories must be the policy's; a sensitive or special
        category needs its explicit grant named in `explicit_grants`.
        """
        policy = get_policy()
        row = recipes.save_recipe(get_session(), get_keys(), policy, recipe_id, body,
                                  current_principal().name, utcnow())
        return recipes.recipe_view(row, policy)


@blp.route("/v1/recipes/<recipe_id>/reach")
class Reach(MethodView):
    @scoped("recipes:read")
    @blp.response(200, ReachSchema)
    def get(self, recipe_id):
        """For how many known subjects the recipe may run, per channel, and what blocks
        the rest (the gate's `evaluate`, once per distinct consent state)."""
        session = get_session()
        return recipes.reach(session, get_policy(), recipes.get_recipe(session, recipe_id),
                             utcnow())
