"""A safe compiler for band-math expressions, and the tiny interpreter that runs them.

The user's text is never evaluated by Python: it is parsed with ``ast.parse(mode="eval")``,
the tree is walked, and only the node types, names and functions listed below are
accepted. What comes out is a *program*: nested tuples of strings and numbers, which
pickles to the workers and is run by :func:`run_program` over numpy float64 arrays. The
interpreter only knows the operations in ``_OPERATIONS``, so even a hand-made program
cannot reach anything else.

Syntax (see docs/engine-api.md, "Band math"):

* Rasters are named ``A``, ``B``, ``C``, ... in input order (upper case, at most 26).
  ``A@k`` is band ``k`` (1-based) of raster ``A``. A bare ``@k`` is band ``k`` of ``A``.
  A bare letter ``A`` is allowed when raster ``A`` has exactly one band.
  ``A@k`` binds tighter than any operator: ``A@4 / A@3`` means ``(A@4) / (A@3)``.
* Numbers (int, float, ``True``/``False``), the constants ``pi`` and ``e``.
* Arithmetic ``+ - * / // % **``, unary ``-`` and ``+``.
* Comparisons ``< <= > >= == !=`` (chains allowed: ``0 < A@1 < 10``); they give 1.0 or 0.0.
* Logic, elementwise and on truth values (nonzero = true): ``and``, ``or``, ``not`` and
  their synonyms ``&``, ``|``, ``~`` (these are NOT bitwise); ``a if c else b``.
* Functions: ``where(c, a, b)``, ``clip(x, lo, hi)``, ``sqrt``, ``log`` (natural),
  ``log10``, ``exp``, ``abs``, ``floor``, ``ceil``, ``min(a, b, ...)`` and
  ``max(a, b, ...)`` (elementwise, two or more arguments).

Everything is computed in float64.
"""

import ast
import io
import keyword
import math
import string
import tokenize

import numpy as np

from ..core.errors import InputError

MAX_LENGTH = 4000        # characters of expression text
MAX_DEPTH = 100          # nesting depth of the expression tree
MAX_RASTERS = 26
RASTER_NAMES = string.ascii_uppercase

CONSTANTS = {"pi": math.pi, "e": math.e}

# function name -> (operation, min args, max args (None = unlimited))
FUNCTIONS = {
    "where": ("where", 3, 3),
    "clip": ("clip", 3, 3),
    "sqrt": ("sqrt", 1, 1),
    "log": ("log", 1, 1),
    "log10": ("log10", 1, 1),
    "exp": ("exp", 1, 1),
    "abs": ("abs", 1, 1),
    "floor": ("floor", 1, 1),
    "ceil": ("ceil", 1, 1),
    "min": ("min", 2, None),
    "max": ("max", 2, None),
}

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
           ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow",
           ast.BitAnd: "and", ast.BitOr: "or"}
_UNARY = {ast.USub: "neg", ast.UAdd: "pos", ast.Not: "not", ast.Invert: "not"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
            ast.NotEq: "ne"}
_BOOL = {ast.And: "and", ast.Or: "or"}

# Why a construct is refused, by node type (anything not handled is refused too).
_REFUSED = {
    ast.Attribute: "attribute access ('.name') is not allowed",
    ast.Subscript: "subscripts ('[...]') are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred arguments ('*x') are not allowed",
    ast.NamedExpr: "assignment expressions (':=') are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


def _fail(message):
    raise InputError("expression", message)


def _snippet(text, node):
    try:
        segment = ast.get_source_segment(text, node)
    except Exception:  # noqa: BLE001  (only used to word an error message)
        segment = None
    return f" (in {segment!r})" if segment else ""


def _bind_band_references(text):
    """Put ``NAME@NUMBER`` and a bare ``@NUMBER`` in parentheses, so they bind tightest.

    ``@`` is a multiplication-level operator in Python; without this, ``A@4 / A@3`` would
    parse as ``((A@4) / A)@3`` and ``-A@1`` as ``(-A)@1``. Only parentheses are inserted
    (a bare ``@k`` becomes ``(A@k)``); the text is otherwise unchanged. Text that does not
    tokenize is returned as is, for ``ast.parse`` to report.
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT,
                                    tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(position):
        row, col = position
        return line_starts[row - 1] + col

    inserts = []  # (offset, text), applied from the end
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        at_next = i + 2 < len(tokens) and tokens[i + 1].string == "@" and \
            tokens[i + 2].type == tokenize.NUMBER
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) and at_next:
            inserts.append((offset(tok.start), "("))
            inserts.append((offset(tokens[i + 2].end), ")"))
            i += 3
            continue
        if tok.string == "@" and i + 1 < len(tokens) and tokens[i + 1].type == tokenize.NUMBER:
            previous = tokens[i - 1] if i > 0 else None
            operand_before = previous is not None and (
                previous.type in (tokenize.NUMBER, tokenize.STRING)
                or (previous.type == tokenize.NAME and not keyword.iskeyword(previous.string))
                or previous.string in (")", "]", "}"))
            if not operand_before:
                inserts.append((offset(tok.start), "(A"))
                inserts.append((offset(tokens[i + 1].end), ")"))
                i += 2
                continue
        i += 1
    for position, piece in sorted(inserts, key=lambda item: item[0], reverse=True):
        text = text[:position] + piece + text[position:]
    return text


class _Compiler:
    def __init__(self, text, profiles):
        self.text = text
        self.profiles = profiles
        self.bands = set()  # (raster index, band index 0-based)

    def build(self, node, depth=0):
        if depth > MAX_DEPTH:
            _fail(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        depth += 1
        where = _snippet(self.text, node)
        kind = type(node)
        if kind is ast.BinOp and isinstance(node.op, ast.MatMult):
            return self._band(node, where)
        if kind is ast.BinOp:
            op = _BINARY.get(type(node.op))
            if op is None:
                _fail(f"operator {_op_text(node.op)} is not allowed{where}")
            return ("op", op, self.build(node.left, depth), self.build(node.right, depth))
        if kind is ast.UnaryOp:
            return ("op", _UNARY[type(node.op)], self.build(node.operand, depth))
        if kind is ast.BoolOp:
            program = self.build(node.values[0], depth)
            for value in node.values[1:]:
                program = ("op", _BOOL[type(node.op)], program, self.build(value, depth))
            return program
        if kind is ast.Compare:
            return self._compare(node, depth, where)
        if kind is ast.IfExp:
            return ("op", "where", self.build(node.test, depth), self.build(node.body, depth),
                    self.build(node.orelse, depth))
        if kind is ast.Call:
            return self._call(node, depth, where)
        if kind is ast.Name:
            return self._name(node, where)
        if kind is ast.Constant:
            return self._constant(node, where)
        reason = _REFUSED.get(kind)
        if kind is ast.Attribute:
            reason = f"attribute access ('.{node.attr}') is not allowed"
        if reason is None:
            reason = f"{kind.__name__} is not allowed"
        _fail(f"{reason}{where}")

    def _name(self, node, where):
        name = node.id
        if "__" in name:
            _fail(f"names with double underscores are not allowed: {name!r}")
        if name in CONSTANTS:
            return ("const", CONSTANTS[name])
        if name in FUNCTIONS:
            _fail(f"{name} is a function: call it, as in {name}(...)")
        raster = self._raster(name, where)
        profile = self.profiles[raster]
        if profile.count != 1:
            _fail(f"raster {name} has {profile.count} bands: say which, as in {name}@1")
        self.bands.add((raster, 0))
        return ("band", raster, 0)

    def _raster(self, name, where):
        known = ", ".join(RASTER_NAMES[:len(self.profiles)])
        if len(name) == 1 and name in RASTER_NAMES:
            index = RASTER_NAMES.index(name)
            if index >= len(self.profiles):
                _fail(f"unknown raster {name}: there {'is' if len(self.profiles) == 1 else 'are'}"
                      f" {len(self.profiles)} input raster{'s' if len(self.profiles) != 1 else ''}"
                      f" ({known}){where}")
            return index
        _fail(f"unknown name {name!r}{where}; rasters are {known} (as in A@1), constants "
              f"{', '.join(CONSTANTS)}, functions {', '.join(FUNCTIONS)}")

    def _band(self, node, where):
        if not isinstance(node.left, ast.Name):
            _fail(f"'@' joins a raster letter and a band number, as in A@3{where}")
        name = node.left.id
        if "__" in name:
            _fail(f"names with double underscores are not allowed: {name!r}")
        raster = self._raster(name, where)
        band = node.right
        if not (isinstance(band, ast.Constant) and type(band.value) is int):
            _fail(f"a band number must be a whole number, as in {name}@3{where}")
        count = self.profiles[raster].count
        if not 1 <= band.value <= count:
            _fail(f"band {band.value} of raster {name} is out of range: {name} has {count} "
                  f"band{'s' if count != 1 else ''} (bands are numbered from 1){where}")
        self.bands.add((raster, band.value - 1))
        return ("band", raster, band.value - 1)

    def _constant(self, node, where):
        value = node.value
        if type(value) in (int, float, bool):
            try:
                return ("const", float(value))
            except OverflowError:
                _fail(f"the number {str(value)[:20]}... ({len(str(value))} digits) is too large "
                      f"for 64-bit floating point (at most about 1.8e308){where}")
        if isinstance(value, (str, bytes)):
            _fail(f"strings are not allowed{where}")
        _fail(f"constant {value!r} is not allowed; only real numbers{where}")

    def _compare(self, node, depth, where):
        left = self.build(node.left, depth)
        program = None
        for op, right_node in zip(node.ops, node.comparators):
            name = _COMPARE.get(type(op))
            if name is None:
                _fail(f"comparison {_op_text(op)} is not allowed{where}")
            right = self.build(right_node, depth)
            step = ("op", name, left, right)
            program = step if program is None else ("op", "and", program, step)
            left = right
        return program

    def _call(self, node, depth, where):
        func = node.func
        if isinstance(func, ast.Attribute):
            _fail(f"attribute access ('.{func.attr}') is not allowed{where}")
        if not isinstance(func, ast.Name):
            reason = _REFUSED.get(type(func), "calling the result of an expression is not allowed")
            _fail(f"{reason}; only the listed functions can be called, by name{where}")
        name = func.id
        if "__" in name:
            _fail(f"names with double underscores are not allowed: {name!r}")
        if name not in FUNCTIONS:
            _fail(f"unknown function {name!r}{where}; functions are {', '.join(FUNCTIONS)}")
        if node.keywords:
            _fail(f"keyword arguments are not allowed{where}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                _fail(f"starred arguments ('*x') are not allowed{where}")
        op, low, high = FUNCTIONS[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            expected = str(low) if low == high else f"at least {low}"
            _fail(f"{name} takes {expected} argument{'s' if low != 1 else ''}, "
                  f"got {count}{where}")
        return ("op", op) + tuple(self.build(arg, depth) for arg in node.args)


def _op_text(op):
    return {ast.MatMult: "'@'", ast.BitXor: "'^'", ast.LShift: "'<<'", ast.RShift: "'>>'",
            ast.Is: "'is'", ast.IsNot: "'is not'", ast.In: "'in'",
            ast.NotIn: "'not in'"}.get(type(op), type(op).__name__)


def compile_expression(text, profiles):
    """Compile ``text`` for input rasters with ``profiles``; return ``(program, bands)``.

    ``bands`` is the sorted tuple of ``(raster index, band index 0-based)`` the
    expression reads. Raises ``InputError("expression", ...)`` for anything not allowed.
    Never evaluates the text.
    """
    if not isinstance(text, str):
        _fail(f"must be a text, got {type(text).__name__}")
    if not text.strip():
        _fail("is empty")
    if len(text) > MAX_LENGTH:
        _fail(f"is too long ({len(text)} characters; at most {MAX_LENGTH})")
    if len(profiles) > MAX_RASTERS:
        raise InputError("inputs", f"band math takes at most {MAX_RASTERS} rasters")
    if "\x00" in text:
        _fail(f"contains a NUL character (at position {text.index(chr(0))}); remove it")
    bound = _bind_band_references(text)
    try:
        tree = ast.parse(bound.strip(), mode="eval")
    except SyntaxError as exc:
        _fail(f"syntax error: {exc.msg} in {text!r}")
    except (RecursionError, MemoryError) as exc:
        _fail(f"cannot be parsed ({type(exc).__name__}): too long or too deeply nested")
    except ValueError as exc:
        _fail(f"cannot be parsed: {exc}")
    for node in ast.walk(tree):  # the most telling refusal first, wherever it sits
        name = node.id if isinstance(node, ast.Name) else \
            node.attr if isinstance(node, ast.Attribute) else ""
        if "__" in name:
            _fail(f"names with double underscores are not allowed: {name!r}")
    compiler = _Compiler(bound.strip(), profiles)
    try:
        program = compiler.build(tree.body)
    except RecursionError:
        _fail("the expression is nested too deeply")
    return program, tuple(sorted(compiler.bands))


# -- the interpreter ------------------------------------------------------------------------

def _truth(x):
    return np.not_equal(x, 0.0)


def _as_float(x):
    return np.asarray(x, dtype=np.float64)


_OPERATIONS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power,
    "neg": np.negative, "pos": np.positive,
    "lt": lambda a, b: _as_float(np.less(a, b)),
    "le": lambda a, b: _as_float(np.less_equal(a, b)),
    "gt": lambda a, b: _as_float(np.greater(a, b)),
    "ge": lambda a, b: _as_float(np.greater_equal(a, b)),
    "eq": lambda a, b: _as_float(np.equal(a, b)),
    "ne": lambda a, b: _as_float(np.not_equal(a, b)),
    "and": lambda a, b: _as_float(np.logical_and(_truth(a), _truth(b))),
    "or": lambda a, b: _as_float(np.logical_or(_truth(a), _truth(b))),
    "not": lambda a: _as_float(np.logical_not(_truth(a))),
    "where": lambda c, a, b: np.where(_truth(c), a, b),
    "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "sqrt": np.sqrt, "log": np.log, "log10": np.log10, "exp": np.exp, "abs": np.abs,
    "floor": np.floor, "ceil": np.ceil,
    "min": lambda *xs: _fold(np.minimum, xs), "max": lambda *xs: _fold(np.maximum, xs),
}
# (lambdas are fine here: the table is looked up by name in each process, never pickled)


def _fold(ufunc, values):
    result = values[0]
    for value in values[1:]:
        result = ufunc(result, value)
    return result


def run_program(program, bands):
    """Evaluate ``program`` with ``bands[(raster, band)]`` float64 arrays; float64 result.

    Floating-point warnings are silenced: non-finite results are the caller's to mask.
    """
    with np.errstate(all="ignore"):
        return _run(program, bands)


def _run(node, bands):
    kind = node[0]
    if kind == "const":
        return np.float64(node[1])
    if kind == "band":
        return bands[(node[1], node[2])]
    if kind == "op":
        operation = _OPERATIONS[node[1]]  # KeyError for anything unknown
        return operation(*(_run(arg, bands) for arg in node[2:]))
    raise ValueError(f"not a band-math program node: {kind!r}")


def expression_text(program):
    """Readable text of a program (for descriptions and messages)."""
    kind = program[0]
    if kind == "const":
        return repr(program[1])
    if kind == "band":
        return f"{RASTER_NAMES[program[1]]}@{program[2] + 1}"
    return f"{program[1]}({', '.join(expression_text(a) for a in program[2:])})"


__all__ = ["CONSTANTS", "FUNCTIONS", "compile_expression", "expression_text", "run_program"]
