"""Generative patterns from compact formulas (paper Fig. 2, column three) and presets.

A formula is an arithmetic expression over the pixel grid, for example
"0.5 + 0.5*sin(10*r)", or three of them separated by ';' for R;G;B. Names:

    x, y    pixel centres; the shorter image side spans (-1, 1), the longer one
            proportionally more so circles stay round; x grows rightwards and
            y upwards (mathematical orientation, y = +1 is the top)
    r       hypot(x, y), the distance from the image centre
    theta   arctan2(y, x), the angle in (-pi, pi], counter-clockwise from +x
    pi, e, tau

Values are mapped to pixels by clipping to [0, 1] and scaling by 255 (rounded
half up); with normalize=True the formula's range is stretched to [0, 255]
instead (min-max over the whole image, all channels together).

Safety: the text is parsed with `ast` and the tree is walked by `_Evaluator`,
which knows only number literals, the names above, + - * / // % **, unary +/-,
comparisons (giving 1.0 or 0.0) and calls of the functions in FUNCTIONS. Nothing
is ever passed to eval/exec/compile, so no Python code in the formula can run;
every other construct (attributes, subscripts, strings, lambdas, ...) is refused.
"""

from __future__ import annotations

import ast
import math
from typing import Callable

import numpy as np

from ..errors import InputError
from .pixels import check_size, to_uint8

MAX_FORMULA_LENGTH = 1000
MAX_DEPTH = 200  # nesting of the expression tree; also keeps the walker's recursion shallow
MAX_EXPONENT = 100.0  # |b| in a ** b: enough for any pattern, and 9**9**9 or x**1e9 is refused

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
VARIABLES = ("x", "y", "r", "theta")


def _fract(a):
    return a - np.floor(a)


# name → (numpy function, number of arguments)
FUNCTIONS: dict[str, tuple[Callable, int]] = {
    **{n: (getattr(np, n), 1) for n in (
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "sqrt", "exp", "log", "log2", "log10", "floor", "ceil", "sign",
    )},
    "abs": (np.abs, 1),
    "fract": (_fract, 1),
    "mod": (np.mod, 2),
    "hypot": (np.hypot, 2),
    "arctan2": (np.arctan2, 2),
    "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
    "min": (np.minimum, 2),
    "max": (np.maximum, 2),
    "clip": (np.clip, 3),
    "where": (np.where, 3),
}

_BINARY = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
}
_UNARY = {ast.UAdd: np.positive, ast.USub: np.negative}
_COMPARE = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
    ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
_SYMBOLS = {
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
    ast.MatMult: "@", ast.Invert: "~", ast.Not: "not",
}
# Friendlier words for the constructs people are likely to try.
_REFUSED = {
    ast.Attribute: "attribute access ('.') is not allowed",
    ast.Subscript: "subscripts ('[...]') are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.List: "lists are not allowed", ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed", ast.Dict: "dicts are not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "strings are not allowed", ast.IfExp: "'a if c else b' is not allowed; use where(c, a, b)",
    ast.BoolOp: "'and'/'or' are not allowed; use minimum/maximum or *",
    ast.NamedExpr: "':=' is not allowed", ast.Starred: "'*' unpacking is not allowed",
}


def _fail(node: ast.AST, offset: int, message: str) -> InputError:
    col = offset + getattr(node, "col_offset", 0) + 1
    return InputError(f"formula error at column {col}: {message}")


class _Evaluator:
    """Evaluates a parsed formula tree node by node with numpy, on a fixed grid."""

    def __init__(self, env: dict[str, np.ndarray | float], offset: int):
        self.env = env
        self.offset = offset  # where this channel starts in the whole formula, for column numbers

    def run(self, node: ast.AST, depth: int = 0):
        if depth > MAX_DEPTH:
            raise _fail(node, self.offset, f"formula is nested more than {MAX_DEPTH} levels deep")
        d = depth + 1
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            known = ", ".join([*VARIABLES, *CONSTANTS])
            raise _fail(node, self.offset, f"unknown name {node.id!r} (known: {known})")
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.run(node.operand, d))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.run(node.left, d), self.run(node.right, d)
            if isinstance(node.op, ast.Pow) and np.max(np.abs(right)) > MAX_EXPONENT:
                raise _fail(node, self.offset, f"exponent too large (|exponent| must be at most {MAX_EXPONENT:g})")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            # a < b < c means (a < b) and (b < c); comparisons give 1.0 or 0.0.
            result, left = 1.0, self.run(node.left, d)
            for op, comp in zip(node.ops, node.comparators):
                if type(op) not in _COMPARE:
                    raise _fail(node, self.offset, "only < <= > >= == != comparisons are allowed")
                right = self.run(comp, d)
                result = result * _COMPARE[type(op)](left, right).astype(np.float64)
                left = right
            return result
        if isinstance(node, ast.Call):
            return self._call(node, d)
        if isinstance(node, (ast.UnaryOp, ast.BinOp)):
            symbol = _SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _fail(node, self.offset, f"operator {symbol!r} is not allowed")
        message = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed in a formula")
        raise _fail(node, self.offset, message)

    def _number(self, node: ast.Constant) -> float:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "strings" if isinstance(v, (str, bytes)) else f"{type(v).__name__} values"
            raise _fail(node, self.offset, f"{kind} are not allowed; only numbers")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise _fail(node, self.offset, "number too large")
        return f

    def _call(self, node: ast.Call, depth: int):
        if not isinstance(node.func, ast.Name):
            raise _fail(node, self.offset, "only calls of named functions like sin(x) are allowed")
        name = node.func.id
        if name not in FUNCTIONS:
            raise _fail(node, self.offset, f"unknown function {name!r} (allowed: {', '.join(sorted(FUNCTIONS))})")
        if node.keywords:
            raise _fail(node, self.offset, f"{name}() takes no keyword arguments")
        func, nargs = FUNCTIONS[name]
        if len(node.args) != nargs:
            raise _fail(node, self.offset, f"{name}() takes {nargs} argument(s), got {len(node.args)}")
        return func(*[self.run(a, depth) for a in node.args])


def grid(width: int, height: int) -> dict[str, np.ndarray | float]:
    """The names a formula can use, evaluated at the pixel centres of a width x height image."""
    s = min(width, height)
    x = ((2 * np.arange(width) + 1 - width) / s)[None, :]
    y = ((height - 1 - 2 * np.arange(height)) / s)[:, None]  # top row has the largest y
    return {"x": x, "y": y, "r": np.hypot(x, y), "theta": np.arctan2(y, x), **CONSTANTS}


def formula_values(expr: str, width: int, height: int) -> np.ndarray:
    """Evaluate a formula on the grid: float64 (height, width), or (height, width, 3) for R;G;B."""
    check_size(width, height, "pattern")
    if len(expr) > MAX_FORMULA_LENGTH:
        raise InputError(f"formula is {len(expr)} characters long; at most {MAX_FORMULA_LENGTH}")
    if any(c in expr for c in "\n\r\0"):
        raise InputError("formula must be a single line")
    parts = expr.split(";")
    if len(parts) not in (1, 3):
        raise InputError(f"formula has {len(parts)} parts: give one (grey) or three separated by ';' (R;G;B)")
    env = grid(width, height)
    channels, offset = [], 0
    for part in parts:
        try:
            tree = ast.parse(part.strip(), mode="eval")
        except SyntaxError as e:
            lead = len(part) - len(part.lstrip())
            col = offset + lead + (e.offset or 1)
            raise InputError(f"formula syntax error at column {col}: {e.msg}") from None
        except (ValueError, RecursionError, MemoryError):
            raise InputError(f"formula cannot be parsed near column {offset + 1}") from None
        evaluator = _Evaluator(env, offset + len(part) - len(part.lstrip()))
        # Out-of-domain values (log(-1), 1/0) are caught below as NaN/inf, so hush numpy's warnings.
        with np.errstate(all="ignore"):
            values = np.asarray(evaluator.run(tree.body), dtype=np.float64)
        channels.append(np.broadcast_to(values, (height, width)))
        offset += len(part) + 1
    out = channels[0].copy() if len(channels) == 1 else np.stack(channels, axis=2)
    bad = ~np.isfinite(out)
    if bad.any():
        raise InputError(
            f"formula gives inf or NaN at {int(bad.sum())} pixel value(s) "
            "(division by zero, log or sqrt of a negative number, or overflow)"
        )
    return out


def to_pixels(values: np.ndarray, normalize: bool = False) -> np.ndarray:
    """Map formula values to uint8: clip to [0, 1] · 255, or min-max stretch with normalize."""
    if normalize:
        lo, hi = float(values.min()), float(values.max())
        values = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return to_uint8(np.clip(values, 0.0, 1.0) * 255.0)


def evaluate_formula(expr: str, width: int, height: int, normalize: bool = False) -> np.ndarray:
    """Render a formula: uint8 (height, width) for one channel, (height, width, 3) for R;G;B."""
    return to_pixels(formula_values(expr, width, height), normalize)


def sunflower(width: int, height: int, seeds: int = 600) -> np.ndarray:
    """A sunflower head (paper ref. [1]): seeds on Vogel's golden-angle spiral, ringed by petals.

    Seed n sits at angle n·φ, φ = π(3 − √5) ≈ 137.5°, and radius c·√n, so every seed
    covers the same area and the spirals (parastichies) appear by themselves.
    Returns uint8 (height, width, 3).
    """
    check_size(width, height, "pattern")
    g = grid(width, height)
    r, theta = np.broadcast_to(g["r"], (height, width)), g["theta"]
    head, petal = 0.45, 0.45  # head radius and petal length, in grid units
    # Sky: a vertical gradient from light blue (top) to lighter at the bottom.
    sky_t = np.broadcast_to((1 - g["y"]) / 2, (height, width))[:, :, None]
    img = (1 - sky_t) * np.array([120, 170, 230]) + sky_t * np.array([200, 225, 250])
    # Two rings of 34 petals (a Fibonacci number), the back ring offset by half a petal.
    for shift, length, colour in ((0.5, 1.0, (235, 160, 20)), (0.0, 0.85, (255, 205, 40))):
        profile = np.abs(np.cos(17 * theta + shift * np.pi)) ** 0.8
        img[r < head + petal * length * profile] = colour
    img[r < head] = (70, 40, 15)
    # Seeds: one small disc each, drawn in its own bounding box (cheap for a few hundred).
    s = min(width, height) / 2  # pixels per grid unit
    cx, cy = (width - 1) / 2, (height - 1) / 2
    c = head / math.sqrt(seeds)
    rad = 0.85 * c * s
    phi = math.pi * (3 - math.sqrt(5))
    for n in range(seeds):
        px = cx + c * math.sqrt(n + 0.5) * math.cos(n * phi) * s
        py = cy - c * math.sqrt(n + 0.5) * math.sin(n * phi) * s
        x0, x1 = max(0, int(px - rad)), min(width, int(px + rad) + 2)
        y0, y1 = max(0, int(py - rad)), min(height, int(py + rad) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = (xx - px) ** 2 + (yy - py) ** 2 <= rad**2
        # Seeds lighten from the centre outwards, as the younger outer seeds do.
        t = n / seeds
        img[y0:y1, x0:x1][disc] = (100 + 60 * t, 60 + 45 * t, 20 + 20 * t)
    return to_uint8(img)


PATTERNS: dict[str, str | Callable[[int, int], np.ndarray]] = {
    "sunflower": sunflower,
    "rings": "0.5 + 0.5*cos(40*r)",
    # Wavy stripes, the three channels a third of a cycle apart (soft rainbow).
    "waves": ";".join(f"0.5 + 0.5*sin(8*x + 3*sin(4*y) + {k}*tau/3)" for k in range(3)),
    "checker": "mod(floor(4*x) + floor(4*y), 2)",
    "spiral": "0.5 + 0.5*sin(5*theta + 30*r)",
}


def render_preset(name: str, width: int, height: int) -> np.ndarray:
    """Render a named preset; uint8 (height, width) or (height, width, 3)."""
    if name not in PATTERNS:
        raise InputError(f"unknown preset {name!r}: choose from {', '.join(PATTERNS)}")
    preset = PATTERNS[name]
    if callable(preset):
        return preset(width, height)
    return evaluate_formula(preset, width, height)
