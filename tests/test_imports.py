"""The package's import graph: no circles, and models never reach the zoo.

Every ``import`` counts, also those inside functions (a lazy import still ties the two
modules together: it only hides the circle until the function runs).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tfspeech"
# Lower layers: a model, layer or loss must not know about the zoo, the command line or the apps.
LOWER = ("tfspeech.models.", "tfspeech.layers.", "tfspeech.losses.", "tfspeech.audio.", "tfspeech.text.")
UPPER = ("tfspeech.zoo", "tfspeech.cli", "tfspeech.decoding", "tfspeech.synthesis", "tfspeech.conversion",
         "tfspeech.recipes")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: tfspeech modules it imports}`` (a package's own ``__init__`` left out)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in known and t != name and not name.startswith(t + ".")}
    return graph


def reachable(graph, start) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_circles():
    graph = import_graph()
    circles = sorted({tuple(sorted((a, b))) for a in graph for b in reachable(graph, a) if a in reachable(graph, b)})
    assert not circles, f"modules that import each other (directly or through others): {circles}"


def test_models_layers_and_front_ends_never_reach_the_zoo_or_the_apps():
    graph = import_graph()
    offenders = {name: sorted(m for m in reachable(graph, name) if m.startswith(UPPER))
                 for name in graph if name.startswith(LOWER)}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_named_circles_are_gone():
    graph = import_graph()
    assert "tfspeech.decoding" not in reachable(graph, "tfspeech.models.ctc")
    assert "tfspeech.recipes.tts_training" not in reachable(graph, "tfspeech.recipes.tts_evaluation")
