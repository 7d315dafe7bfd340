"""The layout keeps the flow: no import cycles (lazy imports included), the library never reaches up into jobs/,
match/ stays pure, and each jobs/ module is wiring only."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("matcher", "jobs")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every project module `name` imports, at any depth of the file (lazy imports in functions count too)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v]):
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

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_form_a_cycle():
    assert _cycles() == []


def test_the_library_never_imports_jobs_except_the_cli():
    offenders = {m: sorted(t for t in deps if t.split(".")[0] == "jobs") for m, deps in GRAPH.items()
                 if m.split(".")[0] == "matcher" and not m.startswith("matcher.cli")}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_match_package_is_pure_computation():
    io_libraries = {"sqlmodel", "sqlalchemy", "httpx", "aiosmtplib", "jinja2", "starlette", "requests", "socket"}
    for name, path in MODULES.items():
        if not name.startswith("matcher.match."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not roots & io_libraries, f"{name} imports {sorted(roots & io_libraries)}"
        project = {d for d in GRAPH[name] if d.startswith("matcher.")}
        allowed = ("matcher.match", "matcher.config", "matcher.schema", "matcher.text", "matcher.clock")
        bad = sorted(d for d in project if not any(d == a or d.startswith(a + ".") for a in allowed))
        assert not bad, f"{name} imports {bad}"


def test_each_job_module_is_only_wiring():
    for name, path in MODULES.items():
        if name.startswith("jobs.") and name != "jobs.scheduler":
            code = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            assert len(code) <= 40, f"{name} has {len(code)} lines: the work belongs in matcher/"
