"""The analyses: each returns a typed section of the report (a dataclass) with its JSON form (`to_json`)."""

LIST_LIMIT = 200  # long lists in the JSON (unknown shapes/costs, scopes) are cut here, with a count
