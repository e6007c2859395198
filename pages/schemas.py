"""Schemas of the link endpoints (the pages themselves take forms, not JSON)."""

from __future__ import annotations

import marshmallow as ma

from consent.explain import LANGUAGES
from pages.links import MAX_RETURN_URL_LENGTH


class LinkRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    language = ma.fields.String(load_default=None, allow_none=True,
                                validate=ma.validate.OneOf(LANGUAGES), metadata={
                                    "description": "The page's language; default: the "
                                                   "browser's Accept-Language"})
    return_url = ma.fields.String(load_default=None, allow_none=True,
                                  validate=ma.validate.Length(min=1, max=MAX_RETURN_URL_LENGTH),
                                  metadata={"description": "Where the page's \"Back\" link "
                                                           "goes: on an origin the policy lists "
                                                           "under page_origins, else 422"})


class LinkSchema(ma.Schema):
    url = ma.fields.String(metadata={"description": "Absolute URL of the page (built from the "
                                                    "Host of this request); needs no API key"})
    expires_at = ma.fields.String(metadata={"description": "RFC 3339; after it the URL "
                                                           "answers 403"})
