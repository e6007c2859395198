"""HTTP views of recipes (privacy leads, engines) and governance reports (legal)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from consentry.auth import current_principal, scoped
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.openapi import error_response
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from governance import recipes, reports
from governance.schemas import (
    MinimizationQuerySchema,
    MinimizationSchema,
    ProcessingQuerySchema,
    ProcessingRecordsSchema,
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
    @blp.alt_response(409, response=error_response(409))  # a change at the same time
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


@blp.route("/v1/reports/data-minimization")
class Minimization(MethodView):
    @scoped("reports:read")
    @blp.arguments(MinimizationQuerySchema(), location="query")
    @blp.response(200, MinimizationSchema)
    def get(self, args):
        """Per category: where it is collected, which live recipes declare it, how often
        decisions used it, and a finding (`unused`: stop collecting it)."""
        return reports.minimization(get_session(), get_policy(), args["since"], args["until"],
                                    utcnow())


@blp.route("/v1/reports/processing-records")
class ProcessingRecords(MethodView):
    @scoped("reports:read")
    @blp.arguments(ProcessingQuerySchema(), location="query")
    @blp.response(200, ProcessingRecordsSchema, content_type="application/json")
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, args):
        """A record of processing activities (GDPR Art. 30(1)) per purpose, with a DPIA
        screening; `?format=csv` for a spreadsheet."""
        record = reports.processing_records(get_session(), get_policy(), utcnow())
        if args["format"] == "csv":
            return Response(reports.processing_records_csv(record), mimetype="text/csv",
                            headers={"Content-Disposition":
                                     'attachment; filename="processing-records.csv"'})
        return record
