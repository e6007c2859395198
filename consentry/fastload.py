"""Load a marshmallow schema fast when the input has the common well-formed shape.

Marshmallow spends most of a load on its own machinery (error stores, partial handling,
a closure per field), which a hot path such as a batch of 1,000 decisions or a million
imported records pays again for every item. `FastLoad` compiles a schema's declared
fields once into plain functions that take the input as far as it is well-formed and
give up (`Fallback`) at the first thing that is not; `load` then runs marshmallow itself.
So there is one home for each rule, the schema: a plain `String` with `Length` or
`OneOf` is checked inline from the validator's own bounds, every other field through its
own `deserialize`, and anything the compiler does not know (hooks, data keys, partial
loads) always takes marshmallow. A 422 is always marshmallow's, message for message.
"""

from __future__ import annotations

from collections.abc import Callable

import marshmallow as ma
from marshmallow.utils import missing

_NOT_COMPILED = object()
_DESERIALIZE = ma.fields.Field.deserialize


class Fallback(Exception):
    """The input left the common shape: let marshmallow load it (and word the error)."""


def _give_up(_value, _data=None):
    raise Fallback


def _leaf(name: str, field: ma.fields.Field) -> Callable:
    """A function loading one present, non-None value of `field`."""
    validators = field.validators
    inline = (type(field) is ma.fields.String and not field.pre_load and not field.post_load
              and all(type(v) in (ma.validate.Length, ma.validate.OneOf) for v in validators))
    if inline:
        bounds = [(v.min, v.max) for v in validators if type(v) is ma.validate.Length
                  and v.equal is None]
        if len(bounds) != sum(type(v) is ma.validate.Length for v in validators):
            inline = False
    if inline:
        choices = [frozenset(v.choices) for v in validators if type(v) is ma.validate.OneOf]

        def load_string(value, _data=None):
            if type(value) is not str:
                raise Fallback
            size = len(value)
            for low, high in bounds:
                if (low is not None and size < low) or (high is not None and size > high):
                    raise Fallback
            for allowed in choices:
                if value not in allowed:
                    raise Fallback
            return value
        return load_string

    if field.pre_load or field.post_load or type(field).deserialize is not _DESERIALIZE:
        def load_field(value, data=None):
            try:
                return field.deserialize(value, name, data)
            except ma.ValidationError:
                raise Fallback from None
        return load_field
    # What `Field.deserialize` does once the value is present and not None (the caller
    # has handled those): the field's own conversion, then its validators.
    convert, validate = field._deserialize, field._validate if validators else None

    def load_value(value, data=None):
        try:
            loaded = convert(value, name, data)
            if validate is not None:
                validate(loaded)
        except ma.ValidationError:
            raise Fallback from None
        return loaded
    return load_value


def _value(name: str, field: ma.fields.Field) -> Callable:
    """A function loading `field`'s raw value (`missing` when absent) as marshmallow would."""
    if field.data_key is not None or field.attribute is not None:
        return _give_up
    if isinstance(field, ma.fields.Nested) and type(field) is ma.fields.Nested:
        if field.many or field.only or field.exclude or field.unknown is not None:
            return _give_up
        inner = _compile(field.schema)
        body = (lambda value, _data=None: inner(value)) if inner is not None else _give_up
    elif type(field) is ma.fields.List and not field.pre_load and not field.post_load:
        item = _value(name, field.inner)
        bounds = [(v.min, v.max) for v in field.validators if type(v) is ma.validate.Length
                  and v.equal is None]
        if len(bounds) != len(field.validators):
            return _give_up

        def body(value, _data=None):
            if type(value) is not list:
                raise Fallback
            for low, high in bounds:
                if (low is not None and len(value) < low) or (
                        high is not None and len(value) > high):
                    raise Fallback
            return [item(v, value) for v in value]
    else:
        body = _leaf(name, field)
    required, allow_none, default = field.required, field.allow_none, field.load_default

    def load(value, data=None):
        if value is missing:
            if required:
                raise Fallback
            return default() if callable(default) else default
        if value is None:
            if allow_none:
                return None
            raise Fallback
        return body(value, data)
    return load


def _compile(schema: ma.Schema) -> Callable[[object], dict] | None:
    """The fast loader of a schema instance, or None when it has parts only marshmallow
    may run (schema hooks or validators, partial loads, a data key)."""
    cached = schema.__dict__.get("_fast_loader", _NOT_COMPILED)
    if cached is not _NOT_COMPILED:
        return cached
    loader = None
    if not any(schema._hooks.values()) and schema.partial is None and not schema.many:
        fields = [(name, _value(name, f)) for name, f in schema.load_fields.items()]
        names = frozenset(name for name, _ in fields)
        unknown = schema.unknown

        def loader(data) -> dict:
            if type(data) is not dict:
                raise Fallback
            result = {}
            for name, load in fields:
                value = load(data.get(name, missing), data)
                if value is not missing:
                    result[name] = value
            if not names.issuperset(data):
                extra = [k for k in data if k not in names]
                if unknown == ma.RAISE:
                    raise Fallback
                if unknown == ma.INCLUDE:
                    for key in extra:
                        result[key] = data[key]
            return result
    schema.__dict__["_fast_loader"] = loader
    return loader


class FastLoad:
    """Mixin for a `ma.Schema`: `load` takes the compiled fast path when the input is
    well-formed and gives the very result marshmallow would; otherwise (or with `many`,
    `partial` or another `unknown`) marshmallow loads it, with its errors."""

    def load(self, data, *, many=None, partial=None, unknown=None):
        if many is None and partial is None and unknown in (None, self.unknown):
            loader = _compile(self)
            if loader is not None:
                try:
                    return loader(data)
                except Fallback:
                    pass
        return super().load(data, many=many, partial=partial, unknown=unknown)
