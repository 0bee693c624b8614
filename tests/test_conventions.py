"""Airflow's provider conventions (``scripts/ci/prek`` in apache/airflow) as tests over our package.

* every ``*conn_id`` argument of an operator or sensor is templated;
* hooks declare their connection attribute, default connection, type and name;
* ``deferrable`` defaults to ``conf.getboolean("operators", "default_deferrable", fallback=False)``;
* a trigger's ``serialize()`` covers every ``__init__`` argument;
* logging is lazy: no f-strings, ``str.format`` or ``%`` formatting inside ``log.*(...)`` calls;
* the client and the emulator never import Airflow;
* the layers' walls: the client imports no orchestrator and no engine code, the sync engine no
  orchestrator, the destinations (``staging``) neither the client nor the engine, and the emulator
  and the client share no code.
"""

from __future__ import annotations

import ast
import concurrent.futures
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import bitrix24_provider

PACKAGE_DIR = Path(bitrix24_provider.__file__).parent
DEFERRABLE_DEFAULT = 'conf.getboolean("operators", "default_deferrable", fallback=False)'
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
LOGGER_NAMES = {"log", "logger", "logging", "_log", "_logger", "LOG", "LOGGER"}


def parse_file(path: Path) -> ast.Module:
    """The module's AST, parsed in a new thread. CPython 3.11's ``ast.parse`` compares its own
    recursion count with the thread's; once in a full-suite run (not reproduced alone) the main
    thread's count was off and it raised ``SystemError: AST constructor recursion depth mismatch``.
    A new thread starts with a clean count."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ast.parse, path.read_text(), str(path)).result()


def modules_of(subpackage: str) -> list[ModuleType]:
    """Every module of ``bitrix24_provider.<subpackage>`` (none when the folder does not exist)."""
    folder = PACKAGE_DIR / subpackage
    if not folder.is_dir():
        return []
    prefix = f"bitrix24_provider.{subpackage}."
    names = [info.name for info in pkgutil.walk_packages([str(folder)], prefix)]
    return [importlib.import_module(name) for name in sorted(names)]


def classes_of(modules: list[ModuleType], base: type) -> list[type]:
    found = []
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, base) and cls is not base:
                found.append(cls)
    return found


def operator_classes() -> list[type]:
    from airflow.sdk import BaseOperator

    return classes_of(modules_of("operators") + modules_of("sensors"), BaseOperator)


def source_files(*subpackages: str) -> list[Path]:
    roots = [PACKAGE_DIR / s for s in subpackages] if subpackages else [PACKAGE_DIR]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*.py"))


def test_the_package_has_operator_and_sensor_classes():
    names = {cls.__name__ for cls in operator_classes()}
    assert "Bitrix24ChangeSensor" in names


@pytest.mark.parametrize("cls", operator_classes(), ids=lambda c: c.__name__)
def test_conn_ids_are_templated(cls):
    conn_ids = [p for p in inspect.signature(cls.__init__).parameters if p.endswith("conn_id")]
    missing = [p for p in conn_ids if p not in cls.template_fields]
    assert not missing, f"{cls.__name__}: {missing} not in template_fields {cls.template_fields}"


def test_operator_set_includes_operators_once_they_exist():
    modules = modules_of("operators")
    if not any(m.__name__ == "bitrix24_provider.operators.bitrix24" for m in modules):
        pytest.skip("bitrix24_provider.operators.bitrix24 does not exist yet")
    from airflow.sdk import BaseOperator

    assert classes_of(modules, BaseOperator), "the operators module defines no operator"


def hook_classes() -> list[type]:
    from airflow.sdk import BaseHook

    return classes_of(modules_of("hooks"), BaseHook)


@pytest.mark.parametrize("cls", hook_classes(), ids=lambda c: c.__name__)
def test_hooks_declare_their_connection(cls):
    parameters = inspect.signature(cls.__init__).parameters
    assert cls.conn_name_attr in parameters, f"{cls.__name__}.__init__ lacks {cls.conn_name_attr}"
    assert cls.conn_name_attr.endswith("conn_id")
    assert parameters[cls.conn_name_attr].default == cls.default_conn_name
    assert cls.conn_type and cls.hook_name


def _deferrable_defaults() -> list[tuple[str, str | None]]:
    found = []
    for path in source_files("operators", "sensors"):
        tree = parse_file(path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if not (isinstance(item, ast.FunctionDef) and item.name == "__init__"):
                    continue
                args = item.args
                positional = args.posonlyargs + args.args
                with_default = positional[len(positional) - len(args.defaults) :]
                defaults = {a.arg: d for a, d in zip(with_default, args.defaults, strict=True)}
                kw_defaults = zip(args.kwonlyargs, args.kw_defaults, strict=True)
                defaults |= {a.arg: d for a, d in kw_defaults if d is not None}
                names = [a.arg for a in positional + args.kwonlyargs]
                if "deferrable" in names:
                    default = defaults.get("deferrable")
                    found.append((f"{path.name}:{node.name}", ast.unparse(default) if default else None))
    return found


def test_deferrable_defaults_come_from_config():
    found = _deferrable_defaults()
    assert any(name.endswith("Bitrix24ChangeSensor") for name, _ in found)
    canonical = ast.unparse(ast.parse(DEFERRABLE_DEFAULT, mode="eval"))
    wrong = [(name, default) for name, default in found if default != canonical]
    assert not wrong, f"deferrable must default to {DEFERRABLE_DEFAULT}: {wrong}"


def trigger_classes() -> list[type]:
    from airflow.triggers.base import BaseTrigger

    return classes_of(modules_of("triggers"), BaseTrigger)


@pytest.mark.parametrize("cls", trigger_classes(), ids=lambda c: c.__name__)
def test_trigger_serialize_covers_init(cls):
    parameters = {name: p for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}
    kwargs = {
        name: (f"<{name}>" if p.default is inspect.Parameter.empty else p.default)
        for name, p in parameters.items()
    }
    classpath, serialized = cls(**kwargs).serialize()
    assert set(serialized) == set(parameters), (
        f"{cls.__name__}.serialize() misses {set(parameters) - set(serialized)}"
    )
    for name, p in parameters.items():
        if p.default is inspect.Parameter.empty:
            assert serialized[name] == kwargs[name], f"{name} is not passed through serialize()"
    rebuilt = importlib.import_module(classpath.rsplit(".", 1)[0])
    assert getattr(rebuilt, classpath.rsplit(".", 1)[1]) is cls
    assert cls(**serialized).serialize() == (classpath, serialized)


def _is_logger(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in LOGGER_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in LOGGER_NAMES
    return False


def _eager_formatting(node: ast.expr) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr):
            return True
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == "format"
            and isinstance(sub.func.value, ast.Constant)
            and isinstance(sub.func.value.value, str)
        ):
            return True
        if (
            isinstance(sub, ast.BinOp)
            and isinstance(sub.op, ast.Mod)
            and isinstance(sub.left, ast.Constant)
            and isinstance(sub.left.value, str)
        ):
            return True
    return False


def test_logging_is_lazy():
    offenders = []
    for path in source_files():
        tree = parse_file(path)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and _is_logger(node.func.value)
                and any(_eager_formatting(arg) for arg in node.args)
            ):
                offenders.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno}")
    assert not offenders, f"use %s arguments, not f-strings/format/% in log calls: {offenders}"


def test_lazy_logging_check_catches_fstrings():
    bad = ast.parse('self.log.info(f"rows {n}")').body[0]
    good = ast.parse('self.log.info("rows %s", n)').body[0]
    assert isinstance(bad, ast.Expr) and isinstance(good, ast.Expr)
    assert _eager_formatting(bad.value.args[0])  # type: ignore[attr-defined]
    assert not _eager_formatting(good.value.args[0])  # type: ignore[attr-defined]


@pytest.mark.parametrize("subpackage", ["client", "emulator"])
def test_client_and_emulator_never_import_airflow(subpackage):
    offenders = []
    files = source_files(subpackage)
    assert files
    for path in files:
        for node in ast.walk(parse_file(path)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}:{node.lineno} {n}" for n in names if n == "airflow" or n.startswith("airflow.")
            ]
    assert not offenders, f"bitrix24_provider.{subpackage} must not import Airflow: {offenders}"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in *path* (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(parse_file(path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if node.module is None or node.level:  # ``from . import x``: x may be a module
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


ORCHESTRATORS = ("airflow", "dagster")
WALLS = {
    # subpackage: module prefixes it must not import
    "client": (
        *ORCHESTRATORS,
        "bitrix24_provider.sync",
        "bitrix24_provider.staging",
        "bitrix24_provider.hooks",
        "bitrix24_provider.operators",
        "bitrix24_provider.sensors",
        "bitrix24_provider.triggers",
        "bitrix24_provider.dagster",
        "bitrix24_provider.emulator",
    ),
    "sync": (
        *ORCHESTRATORS,
        "bitrix24_provider.hooks",
        "bitrix24_provider.operators",
        "bitrix24_provider.sensors",
        "bitrix24_provider.triggers",
        "bitrix24_provider.dagster",
    ),
    "staging": (
        *ORCHESTRATORS,
        "bitrix24_provider.client",
        "bitrix24_provider.sync",
        "bitrix24_provider.hooks",
        "bitrix24_provider.operators",
        "bitrix24_provider.dagster",
    ),
    "emulator": (*ORCHESTRATORS, "bitrix24_provider.client", "bitrix24_provider.redaction"),
}


def _walled(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("subpackage", sorted(WALLS))
def test_layers_keep_their_walls(subpackage):
    files = source_files(subpackage)
    assert files
    offenders = [
        f"{path.name}:{line} {module}"
        for path in files
        for line, module in imported_modules(path)
        if _walled(module, WALLS[subpackage])
    ]
    assert not offenders, f"bitrix24_provider.{subpackage} must not import {WALLS[subpackage]}: {offenders}"


def test_the_wall_check_sees_relative_imports():
    modules = {m for _, m in imported_modules(PACKAGE_DIR / "staging" / "sql_sink.py")}
    assert "bitrix24_provider.staging.columns" in modules  # ``from .columns import ...``
    modules = {m for _, m in imported_modules(PACKAGE_DIR / "sync" / "export.py")}
    assert "bitrix24_provider.client.errors" in modules  # ``from ..client.errors import ...``
    assert _walled("bitrix24_provider.client.errors", WALLS["staging"])
    assert not _walled("bitrix24_provider.clientele", WALLS["staging"])
