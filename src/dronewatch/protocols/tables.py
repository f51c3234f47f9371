"""The table engine: every fixed message layout declared once, compiled to fast code.

A :class:`Layout` lists the fields of one fixed-size record (an ASTM Remote ID message, a DJI
DroneID telemetry record, one TLV shape of the French beacon): each :class:`Field` names a
message attribute, the :class:`FieldCodec` that scales it and the wire locations
(:class:`At`) it reads. From the one declaration the engine generates, as Python source:

* a **decoder** (:func:`compile_decoder`): one ``struct`` unpack of the record, bit fields
  extracted inline, each codec's ``decode_source`` expression pasted in, and one positional
  call of the message constructor (or of a builder function, e.g. one that checks values);
* an **encoder** (:func:`compile_encoder`): each codec's ``encode_source`` (a fast path for
  ordinary values, the codec's ``encode`` method for the rest), bit fields combined, one
  ``struct`` pack;
* a **vectorised encoder** (:func:`compile_vector_encoder`): ``n`` records at once from numpy
  arrays (the simulator's throughput), byte-identical to ``n`` calls of the encoder.

Each generated function keeps its source in ``__doc__``; :func:`show` prints those of a
layout registered by name (``python -m dronewatch.protocols.tables --show astm.location``).

Codecs must keep their pairs equal: ``decode_source`` computes what ``decode`` computes,
``encode_source`` and ``encode_many`` what ``encode`` gives (the tests check every pair).
numpy is imported only by the vectorised encoders.
"""

from __future__ import annotations

import importlib
import inspect
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = [
    "At",
    "ExprCodec",
    "Field",
    "FieldCodec",
    "Layout",
    "compile_decoder",
    "compile_encoder",
    "compile_vector_encoder",
    "layouts",
    "register_layout",
    "sequential",
    "show",
]

Raw = Any  # an int, or bytes for text/data fields


class FieldCodec:
    """Base: maps ``raw_count`` raw wire values to one field value and back."""

    raw_count: int = 1  # raws read by decode
    write_count: int = 1  # raws written by encode (a prefix of those read)

    def decode(self, *raws: Raw) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> tuple[Raw, ...]:
        raise NotImplementedError

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        """A Python expression over the raw variable names ``raws``; ``ref`` names ``self``."""
        return f"{ref}.decode({', '.join(raws)})"

    def encode_source(self, value: str, ref: str) -> str | None:
        """A Python expression of the single raw that :meth:`encode` gives for ``value``.

        ``value`` is an attribute or item read; the expression may read it several times. It
        must equal ``encode(value)[0]`` for every value; the usual pattern is a fast path for
        ordinary values and ``{ref}.encode(value)[0]`` for the rest. ``None``: no inline form
        (the compiler calls :meth:`encode`).
        """
        return None

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        """:meth:`encode` of many values at once: ``values`` is a numpy array (NaN for
        ``None``) or one scalar for every record; gives ``write_count`` raws, each an int64
        array or a scalar. This default encodes a scalar once and arrays value by value."""
        import numpy as np

        if np.ndim(values) == 0:
            return self.encode(values.item() if hasattr(values, "item") else values)
        columns = list(zip(*(self.encode(_none_for_nan(v)) for v in values.tolist()), strict=True))
        return tuple(np.array(c) if c and not isinstance(c[0], bytes) else c for c in columns)

    def namespace(self, ref: str) -> dict[str, Any]:
        """Objects the expressions of this codec refer to."""
        return {ref: self}


def _none_for_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


class ExprCodec(FieldCodec):
    """A one-raw codec made of functions: ``decode``/``encode`` (and ``encode_many``), with
    ``decode_expr`` its decode as a template over ``{raw}`` (``None``: the compiled code calls
    ``decode``)."""

    def __init__(
        self,
        decode: Callable[[Any], Any],
        encode: Callable[[Any], Any],
        encode_many: Callable[[Any], Any] | None = None,
        decode_expr: str | None = None,
    ) -> None:
        self._decode = decode
        self._encode = encode
        self._encode_many = encode_many
        self.decode_expr = decode_expr

    def decode(self, *raws: Raw) -> Any:
        return self._decode(raws[0])

    def encode(self, value: Any) -> tuple[Raw, ...]:
        return (self._encode(value),)

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        if self._encode_many is None:
            return super().encode_many(values)
        return (self._encode_many(values),)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        if self.decode_expr is None:
            return f"{ref}_d({raws[0]})"
        return self.decode_expr.format(raw=raws[0])

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, f"{ref}_d": self._decode}


@dataclass(frozen=True, slots=True)
class At:
    """A wire location: the struct item at ``offset`` (format ``fmt``), or bits of it."""

    offset: int
    fmt: str = "B"  # struct format: B, H, h, i, I, Q, or "<n>s" for bytes
    lsb: int = 0
    width: int = 0  # bits; 0 = the whole item

    @property
    def var(self) -> str:
        """The variable name of this raw value in generated code."""
        if self.width:
            return f"b{self.offset}_{self.lsb}"
        return _item_var(self.offset, self.fmt)


def _item_var(offset: int, fmt: str) -> str:
    """The variable of the struct item at ``offset`` (an empty one shares its offset)."""
    return f"z{offset}" if fmt == "0s" else f"w{offset}"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    codec: FieldCodec
    wire: tuple[At, ...]
    since_version: int = 0  # older versions: the bytes are reserved, the field takes its default

    def __init__(self, name: str, codec: FieldCodec, *wire: At, since_version: int = 0) -> None:
        if len(wire) != codec.raw_count:
            raise ValueError(f"{name}: codec reads {codec.raw_count} raws, {len(wire)} given")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "codec", codec)
        object.__setattr__(self, "wire", wire)
        object.__setattr__(self, "since_version", since_version)

    @property
    def fmt(self) -> str:
        """The struct format of the field's first raw."""
        return self.wire[0].fmt


@dataclass(frozen=True, slots=True)
class Layout:
    """One fixed-size record: its fields, size, byte order and constant bits.

    ``cls`` is what decoding builds (positionally, in ``__struct_fields__`` order; fields not
    on the wire take the struct's defaults). ``constants`` are (bits, value) the encoder
    writes; with ``checked`` the decoder compares them and returns ``None`` when they differ.
    ``version`` names the field that gates ``since_version`` fields.
    """

    name: str
    fields: tuple[Field, ...]
    size: int
    cls: type[Any] | None = None
    order: str = "<"
    constants: tuple[tuple[At, int], ...] = ()
    checked: bool = False
    version: str | None = None
    variant: str = ""  # e.g. "page0"

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct(_struct_format(self))

    def unpack(self, data: bytes) -> dict[str, Any]:
        """Field values by name, through the codecs' ``decode`` methods (the reference of the
        compiled decoder)."""
        names = [_item_var(off, fmt) for off, fmt in _struct_items(self)]
        raw = dict(zip(names, self.struct.unpack_from(data), strict=True))
        out: dict[str, Any] = {}
        for f in self.fields:
            raws = [raw[f"w{at.offset}"] >> at.lsb & ((1 << at.width) - 1) if at.width
                    else raw[at.var] for at in f.wire]
            out[f.name] = f.codec.decode(*raws)
        return out

    def pack(self, values: Mapping[str, Any]) -> bytes:
        """One record from field values by name (missing ones: ``None``)."""
        return _item_encoder(self)(values)

    def pack_many(self, values: Mapping[str, Any], n: int) -> bytes:
        """``n`` records back to back; each value is an array of ``n`` or one scalar."""
        return compile_vector_encoder(self)(values, n)


def sequential(
    order: str, *specs: tuple[str, str, FieldCodec], start: int = 0
) -> tuple[tuple[Field, ...], int]:
    """Fields laid end to end from offset ``start``, from ``(name, fmt, codec)``; and the
    record size (where the last one ends)."""
    fields = []
    offset = start
    for name, fmt, codec in specs:
        fields.append(Field(name, codec, At(offset, fmt)))
        offset += struct.calcsize(order + fmt)
    return tuple(fields), offset


# --- layout analysis --------------------------------------------------------------------------


def _struct_items(layout: Layout) -> list[tuple[int, str]]:
    """The struct items (offset, format) of a layout, in order (an empty ``0s`` item, e.g. a
    TLV of length 0, before the item that starts where it is)."""
    items: dict[str, tuple[int, str]] = {}
    ats = [at for f in layout.fields for at in f.wire] + [at for at, _ in layout.constants]
    for at in ats:
        if items.setdefault(_item_var(at.offset, at.fmt), (at.offset, at.fmt)) != (at.offset, at.fmt):
            raise ValueError(f"{layout.name}: byte {at.offset} read as two formats")
    out = sorted(items.values(), key=lambda item: (item[0], item[1] != "0s"))
    end = 0
    for offset, fmt in out:
        if offset < end:
            raise ValueError(f"{layout.name}: items overlap at byte {offset}")
        end = offset + struct.calcsize(layout.order + fmt)
    if end > layout.size:
        raise ValueError(f"{layout.name}: layout is {end} bytes, not {layout.size}")
    return out


def _struct_format(layout: Layout) -> str:
    fmt, pos = layout.order, 0
    for offset, item in _struct_items(layout):
        if offset > pos:
            fmt += f"{offset - pos}x"
        fmt += item
        pos = offset + struct.calcsize(layout.order + item)
    if pos < layout.size:
        fmt += f"{layout.size - pos}x"
    return fmt


def _bit_raws(layout: Layout) -> dict[str, At]:
    raws: dict[str, At] = {}
    for at in [at for f in layout.fields for at in f.wire] + [at for at, _ in layout.constants]:
        if at.width:
            raws[at.var] = at
    return raws


def _defaults(cls: type[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fld in msgspec.structs.fields(cls):
        if fld.default is not msgspec.NODEFAULT:
            out[fld.name] = fld.default
        elif fld.default_factory is not msgspec.NODEFAULT:
            out[fld.name] = fld.default_factory()
    return out


def _bit_expr(at: At, order: str) -> str:
    shift = f" >> {at.lsb}" if at.lsb else ""
    top_of_byte = at.lsb + at.width == 8 and struct.calcsize(order + at.fmt) == 1
    mask = "" if top_of_byte else f" & {(1 << at.width) - 1}"
    return f"w{at.offset}{shift}{mask}"


def _exec(src: str, ns: dict[str, Any], name: str, label: str) -> Any:
    exec(compile(src, f"<{label}>", "exec"), ns)
    fn = ns[name]
    fn.__doc__ = src  # the generated source, for reading and debugging
    return fn


# --- decoder ---------------------------------------------------------------------------------


def compile_decoder(
    layout: Layout,
    build: Callable[..., Any] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
) -> Callable[[bytes], Any]:
    """A function ``bytes (>= layout.size) -> message`` generated from ``layout``.

    It builds ``layout.cls`` positionally (fields not on the wire: the struct's defaults),
    or calls ``build`` with its parameters by position (parameters not on the wire: their
    default, else ``None``); ``extra`` adds source expressions over ``data`` for parameters
    that are not fields (e.g. a trailing variable part). With ``layout.checked`` it returns
    ``None`` for a record whose constants differ. Lengths are the caller's to check.
    """
    items = _struct_items(layout)
    ns: dict[str, Any] = {"_unpack": struct.Struct(_struct_format(layout)).unpack_from}
    names = ", ".join(_item_var(o, fmt) for o, fmt in items)
    lines = ["def _decode(data):", f"    {names}, = _unpack(data)"]
    uses: dict[str, int] = {}
    for f in layout.fields:
        for at in f.wire:
            uses[at.var] = uses.get(at.var, 0) + 1
    if layout.checked and layout.constants:
        # whole items compared at once (the usual case: headers of the record)
        got = [_bit_expr(at, layout.order) if at.width else at.var for at, _ in layout.constants]
        want = [str(value) for _, value in layout.constants]
        lines += [f"    if ({', '.join(got)},) != ({', '.join(want)},):", "        return None"]
    # A bit field read by one field is extracted inline; one read by several, once.
    inline: dict[str, str] = {}
    for var, at in _bit_raws(layout).items():
        if var not in uses:
            continue
        expr = _bit_expr(at, layout.order)
        if uses[var] == 1:
            inline[var] = f"({expr})"
        else:
            lines.append(f"    {var} = {expr}")
    values: dict[str, str] = {}
    version_expr = None
    if layout.version is not None:
        vf = next(f for f in layout.fields if f.name == layout.version)
        version_expr = vf.codec.decode_source([inline.get(a.var, a.var) for a in vf.wire], "_v")
    if build is None:
        if layout.cls is None:
            raise TypeError(f"{layout.name}: neither a class nor a build function")
        params = list(layout.cls.__struct_fields__)
        defaults = _defaults(layout.cls)
        ns["_build"] = layout.cls
    else:
        signature = inspect.signature(build).parameters
        params = list(signature)
        defaults = {
            name: (None if p.default is inspect.Parameter.empty else p.default)
            for name, p in signature.items()
        }
        ns["_build"] = build
    for i, f in enumerate(layout.fields):
        ref = f"_c{i}"
        ns.update(f.codec.namespace(ref))
        expr = f.codec.decode_source([inline.get(at.var, at.var) for at in f.wire], ref)
        if f.since_version:
            ns[f"_d{i}"] = defaults.get(f.name)
            expr = f"({expr}) if {version_expr} >= {f.since_version} else _d{i}"
        values[f.name] = expr
    values.update(extra or {})
    unused = values.keys() - set(params)
    if unused and build is not None:
        raise TypeError(f"{layout.name}: fields {sorted(unused)} are not parameters of the build")
    missing = set(params) - values.keys() - defaults.keys()
    if missing:
        raise TypeError(f"{layout.name}: {sorted(missing)} neither on the wire nor defaulted")
    for name in params:  # parameters this layout does not carry
        if name not in values:
            ns[f"_k_{name}"] = defaults[name]
            values[name] = f"_k_{name}"
    args = ",\n        ".join(values[name] for name in params)
    lines.append(f"    return _build(\n        {args},\n    )")
    label = f"{layout.name} decoder {layout.variant}"
    fn: Callable[[bytes], Any] = _exec("\n".join(lines) + "\n", ns, "_decode", label)
    return fn


# --- encoders -----------------------------------------------------------------------------------


def compile_encoder(
    layout: Layout, *, inline: bool = True, items: bool = False
) -> Callable[[Any], bytes]:
    """A function ``message -> record bytes`` generated from ``layout``.

    It reads the message's attributes, or with ``items`` the keys of a mapping (missing:
    ``None``). With ``inline``, single-raw codecs contribute their ``encode_source``; without
    it every field calls its codec's ``encode`` (the reference the tests compare with).
    """
    item_list = _struct_items(layout)
    ns: dict[str, Any] = {"_pack": struct.Struct(_struct_format(layout)).pack}
    lines = ["def _encode(m):"]

    def read(name: str) -> str:
        return f"m.get({name!r})" if items else f"m.{name}"

    fields = list(layout.fields)
    version = None
    if layout.version is not None:  # read (and checked) first: other fields depend on it
        version = next(f for f in fields if f.name == layout.version)
        fields.remove(version)
        fields.insert(0, version)
    written: dict[str, str] = {}
    for field in fields:
        i = layout.fields.index(field)
        ref = f"_c{i}"
        ns[ref] = field.codec
        targets = [at.var for at in field.wire[: field.codec.write_count]]
        for var in targets:
            if var in written:
                raise ValueError(f"{layout.name}: {var} written by {written[var]} and {field.name}")
            written[var] = field.name
        value = read(field.name)
        if field is version:
            lines.append(f"    _v = {value}")
            value = "_v"
        lhs = ", ".join(targets) + ","
        rhs = f"{ref}.encode({value})"
        zeros = ", ".join("0" for _ in targets) + ","
        if inline and len(targets) == 1:
            expr = field.codec.encode_source(value, ref)
            if expr is not None:
                ns.update(field.codec.namespace(ref))
                lhs, rhs, zeros = targets[0], expr, "0"
        if field.since_version:
            lines += [f"    if _v >= {field.since_version}:", f"        {lhs} = {rhs}",
                      "    else:", f"        {lhs} = {zeros}"]
        else:
            lines.append(f"    {lhs} = {rhs}")
    args = _pack_args(layout, item_list, written)
    lines.append(f"    return _pack({', '.join(args)})")
    label = f"{layout.name} encoder {layout.variant}"
    fn: Callable[[Any], bytes] = _exec("\n".join(lines) + "\n", ns, "_encode", label)
    return fn


def _pack_args(layout: Layout, items: list[tuple[int, str]], written: Mapping[str, str]) -> list[str]:
    """The expression of every struct item, from the raws written and the constants."""
    by_item: dict[int, list[str]] = {}
    for at, value in layout.constants:
        by_item.setdefault(at.offset, []).append(
            str(value << at.lsb) if at.width else str(value))
    for var, at in _bit_raws(layout).items():
        if any(at == c for c, _ in layout.constants):
            continue
        if var not in written:
            raise ValueError(f"{layout.name}: {var} read but never written")
        by_item.setdefault(at.offset, []).append(f"({var} & {(1 << at.width) - 1}) << {at.lsb}")
    args = []
    for offset, fmt in items:
        var = _item_var(offset, fmt)
        if var == f"w{offset}" and offset in by_item:
            args.append(" | ".join(by_item[offset]))
        else:
            if var not in written:
                raise ValueError(f"{layout.name}: byte {offset} read but never written")
            args.append(var)
    return args


_ITEM_ENCODERS: dict[int, Callable[[Any], bytes]] = {}


def _item_encoder(layout: Layout) -> Callable[[Any], bytes]:
    fn = _ITEM_ENCODERS.get(id(layout))
    if fn is None:
        fn = _ITEM_ENCODERS[id(layout)] = compile_encoder(layout, items=True, inline=False)
    return fn


_VECTOR_ENCODERS: dict[int, Callable[[Mapping[str, Any], int], bytes]] = {}


def compile_vector_encoder(layout: Layout) -> Callable[[Mapping[str, Any], int], bytes]:
    """A function ``(values, n) -> n records`` generated from ``layout``: each value is a
    numpy array of ``n`` (NaN for ``None``) or one scalar for all; missing ones are ``None``.
    The records equal those of the encoder, value for value."""
    fn: Callable[[Mapping[str, Any], int], bytes] | None = _VECTOR_ENCODERS.get(id(layout))
    if fn is not None:
        return fn
    import numpy as np

    items = _struct_items(layout)
    ns: dict[str, Any] = {"_np": np}
    lines = ["def _encode_many(v, n):", f"    _out = _np.zeros((n, {layout.size}), _np.uint8)"]
    written: dict[str, str] = {}
    for i, field in enumerate(layout.fields):
        ref = f"_c{i}"
        ns[ref] = field.codec
        targets = [at.var for at in field.wire[: field.codec.write_count]]
        for var in targets:
            written[var] = field.name
        lines.append(f"    {', '.join(targets)}, = {ref}.encode_many(v.get({field.name!r}))")
    if layout.version is not None and any(f.since_version for f in layout.fields):
        raise ValueError(f"{layout.name}: no vectorised encoder for version-gated fields")
    for (offset, fmt), expr in zip(items, _pack_args(layout, items, written), strict=True):
        if fmt.endswith("s"):
            size = int(fmt[:-1])
            lines.append(f"    _out[:, {offset}:{offset + size}] = _np.frombuffer("
                         f"bytes({expr}).ljust({size}, b'\\0')[:{size}], _np.uint8)")
            continue
        size = struct.calcsize(layout.order + fmt)
        lines.append(f"    _u = _np.asarray({expr}, dtype=_np.int64)")
        for k in range(size):
            col = offset + (k if layout.order == "<" else size - 1 - k)
            shift = f" >> {8 * k}" if k else ""
            lines.append(f"    _out[:, {col}] = (_u{shift}) & 255")
    lines.append("    return _out.tobytes()")
    label = f"{layout.name} vector encoder {layout.variant}"
    fn = _exec("\n".join(lines) + "\n", ns, "_encode_many", label)
    _VECTOR_ENCODERS[id(layout)] = fn
    return fn


# --- registry and printing ---------------------------------------------------------------------

_LAYOUTS: dict[str, Layout] = {}
_DECODERS: dict[str, Callable[[bytes], Any]] = {}
# Modules declaring layouts, imported when the registry is read.
_LAYOUT_MODULES = (
    "dronewatch.protocols.astm.layout",
    "dronewatch.protocols.dji_droneid",
    "dronewatch.protocols.fr_beacon",
)


def register_layout(layout: Layout, decoder: Callable[[bytes], Any] | None = None) -> Layout:
    """Make ``layout`` known by ``layout.name`` (+ ``.variant``) to :func:`show`, with the
    decoder compiled from it when it builds something else than ``layout.cls``."""
    key = f"{layout.name}.{layout.variant}" if layout.variant else layout.name
    _LAYOUTS[key] = layout
    if decoder is not None:
        _DECODERS[key] = decoder
    return layout


def layouts() -> dict[str, Layout]:
    """Every registered layout by name."""
    for module in _LAYOUT_MODULES:
        importlib.import_module(module)
    return dict(_LAYOUTS)


def show(name: str) -> str:
    """The generated decoder, encoder and vectorised encoder sources of layout ``name``."""
    table = layouts()
    layout = table.get(name)
    if layout is None:
        raise KeyError(f"no layout {name!r}; known: {', '.join(sorted(table))}")
    parts = [f"# {name}: {layout.size} bytes, byte order {layout.order!r}"]
    builders: list[tuple[str, Callable[[], Any]]] = [
        ("encoder", lambda: compile_encoder(layout, items=layout.cls is None)),
    ]
    decoder = _DECODERS.get(name)
    if decoder is not None:
        builders.insert(0, ("decoder", lambda: decoder))
    elif layout.cls is not None:
        builders.insert(0, ("decoder", lambda: compile_decoder(layout)))
    if not any(f.since_version for f in layout.fields):
        builders.append(("vectorised encoder", lambda: compile_vector_encoder(layout)))
    for label, make in builders:
        parts.append(f"# --- {label}\n{make().__doc__}")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse  # (only for this command: decoding never needs it)

    parser = argparse.ArgumentParser(
        prog="python -m dronewatch.protocols.tables",
        description="Print the code the table engine generates for a message layout.",
    )
    parser.add_argument("--show", metavar="LAYOUT", help="layout name, e.g. astm.location")
    parser.add_argument("--list", action="store_true", help="list the layout names")
    args = parser.parse_args(argv)
    # Run as a script this file is __main__; layouts register with the imported module.
    engine = importlib.import_module("dronewatch.protocols.tables")
    if args.list or not args.show:
        print("\n".join(sorted(engine.layouts())))
        return
    try:
        print(engine.show(args.show))
    except KeyError as exc:
        raise SystemExit(str(exc.args[0])) from None


if __name__ == "__main__":
    main()
