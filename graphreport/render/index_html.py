"""The folder index page (`graphreport report DIR --out-dir OUT`: OUT/index.html) from batch.py's index data."""
from __future__ import annotations


def render_index(index: dict) -> str:
    from markupsafe import Markup

    from .text import figure_text
    from .charts import _si
    from .html import FORMAT_NAMES, _env, _read, script_json

    from urllib.parse import quote

    env = _env()
    env.filters["href"] = lambda rel: "./" + quote(rel)  # never read as a scheme (a file called javascript:x)
    env.globals["fig"] = lambda row, key: (
        "" if row.get("error") else figure_text({key: row.get(key), "at_least": row.get("at_least") or {}}, key,
                                                (lambda v: f"{v:,}") if key == "params" else _si))
    return env.get_template("index.html.j2").render(
        index=index, format_names=FORMAT_NAMES, css=Markup(_read("diff.css")), data_json=Markup(script_json(index)))
