"""The token API (docs/api.md): /api/v1, where the ISV's other services get tokens.

`routes.py` is the blueprint (parsing, errors as JSON), `auth.py` the API-key check, `queries.py`
what the API reads from the database; the tokens themselves come from tokens/service.py.
"""
