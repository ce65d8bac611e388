"""The analyses: each returns a typed section of the report (a dataclass) with its JSON form (`to_json`)."""

LIST_LIMIT = 200  # long lists in the JSON (unknown shapes/costs, scopes) are cut here, with a count


def op_matcher(pattern):
    """`pattern` (a compiled regex on op types) as a test op -> bool that matches each op type once: a graph
    has a few op types and many nodes. Bounded: the last 4096 op types are remembered."""
    from functools import lru_cache

    @lru_cache(maxsize=4096)
    def matches(op: str) -> bool:
        return pattern.match(op) is not None
    return matches
