"""The house in one-way layers (docs/architecture.md): every module of the package sits in a named
layer, imports go only to its own layer or below (function-level imports included: they are
dependencies too), and no set of modules imports itself in a circle."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "medattn_bench"

# layer -> module names (a name covers its sub-modules); lower layers first
LAYERS = [
    ("ground", ["medattn_bench", "errors", "names", "registry", "jsonio", "stable", "dataopts", "timing", "settings",
                "metrics"]),
    ("blocks, models and data", ["attention", "models", "data", "cam", "contract", "plugins"]),
    ("engine: one training run", ["engine", "cost"]),
    ("records: schema, store, vetting", ["records"]),
    ("analysis", ["stats", "claims", "analysis"]),
    ("views", ["leaderboard", "page", "export", "figures"]),
    ("running: the suite planner, executors, tools that re-train", ["suite", "execute", "executors", "runner",
                                                                     "verify", "review", "recost", "outcome", "compare", "camfig"]),
    ("command line", ["cli", "__main__"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        found.update(t for t in targets if t in modules and t != name)
    return found


def _layer(name: str) -> int:
    short = name.split(".", 1)[1] if "." in name else name
    for i, (_, members) in enumerate(LAYERS):
        for m in members:
            if short == m or short.startswith(m + ".") or name == m:
                return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_only_go_down():
    graph = _graph()
    up = [f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
          for m, deps in sorted(graph.items()) for d in sorted(deps) if _layer(d) > _layer(m)]
    assert not up, "\n".join(up)


def test_no_circle_of_imports():
    assert _cycles(_graph()) == []


def test_the_check_would_fail_on_an_upward_import_and_on_a_circle():
    graph = _graph()
    graph["medattn_bench.records.store"] = graph["medattn_bench.records.store"] | {"medattn_bench.suite"}
    assert any(_layer(d) > _layer("medattn_bench.records.store") for d in graph["medattn_bench.records.store"])
    graph["medattn_bench.jsonio"] = {"medattn_bench.errors"}
    graph["medattn_bench.errors"] = {"medattn_bench.jsonio"}
    assert ["medattn_bench.errors", "medattn_bench.jsonio"] in _cycles(graph)


def test_every_layer_is_described_in_the_architecture_map():
    text = (PKG.parent / "docs" / "architecture.md").read_text()
    for title, members in LAYERS:
        assert title.split(":")[0] in text, title
        for m in members:
            assert f"`{m}`" in text, m
