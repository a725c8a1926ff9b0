"""A job's 3MF as Bambu Studio writes it (a ZIP): the plate's G-code, its image and
`Metadata/slice_info.config` with every plate and filament, written by us from the facts of
the format; and the hostile kinds a printer's storage may hold (ZIP bomb, XML bomb, a
100 MB file)."""

from __future__ import annotations

import enum
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr


@dataclass(frozen=True)
class Filament:
    slot: int            # the slicer's 1-based filament id
    tray_info_idx: str
    material: str
    color: str           # "#RRGGBB"
    grams: float
    meters: float


@dataclass(frozen=True)
class Plate:
    index: int
    prediction: int      # seconds
    filaments: tuple[Filament, ...]

    @property
    def weight(self) -> float:
        return round(sum(f.grams for f in self.filaments), 2)


class Kind(str, enum.Enum):
    NORMAL = "normal"
    BIG = "big"              # padded with stored G-code to `size` bytes
    ZIP_BOMB = "zip_bomb"    # slice_info.config inflates to 256 MiB
    XML_BOMB = "xml_bomb"    # slice_info.config is a billion-laughs document


BOMB_SIZE = 1 << 28


def slice_info(plates: tuple[Plate, ...]) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<config>", "  <header>",
             '    <header_item key="X-BBL-Client-Type" value="slicer"/>',
             '    <header_item key="X-BBL-Client-Version" value="02.04.00.70"/>', "  </header>"]
    for plate in plates:
        lines.append("  <plate>")
        for key, value in (("index", plate.index), ("printer_model_id", "C12"),
                           ("nozzle_diameters", "0.4"), ("prediction", plate.prediction),
                           ("weight", f"{plate.weight:.2f}"), ("outside", "false")):
            lines.append(f'    <metadata key="{key}" value="{value}"/>')
        lines.append('    <object identify_id="118" name="part.stl" skipped="false"/>')
        for f in plate.filaments:
            lines.append(f'    <filament id="{f.slot}" tray_info_idx={quoteattr(f.tray_info_idx)} '
                         f'type={quoteattr(f.material)} color={quoteattr(f.color)} '
                         f'used_m="{f.meters:.2f}" used_g="{f.grams:.2f}"/>')
        lines.append("  </plate>")
    lines.append("</config>")
    return ("\n".join(lines) + "\n").encode()


XML_BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE config [\n <!ENTITY a "aaaaaaaaaa">\n'
            + b"".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode()
                       for i in range(8))
            + b']>\n<config><plate><metadata key="index" value="1"/>'
              b'<metadata key="weight" value="&i;"/></plate></config>\n')


def tiny_png() -> bytes:
    """A valid 1x1 PNG: the plate's thumbnail."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00")) + chunk(b"IEND", b""))


def gcode(plate: Plate) -> bytes:
    head = [f"; plate {plate.index}", f"; estimated printing time: {plate.prediction}s"]
    head += [f"; filament {f.slot}: {f.material} {f.color} {f.grams:.2f} g" for f in plate.filaments]
    return ("\n".join(head) + "\nG28\nG1 Z0.2 F600\n" + "G1 X10 Y10 E0.5\n" * 2000).encode()


def write_3mf(path: Path, plates: tuple[Plate, ...], printed: int, kind: Kind = Kind.NORMAL,
              size: int = 0) -> None:
    """Write the job's file at `path` (atomically: a printer's storage never shows half a
    file to FTP here). `printed` is the plate whose G-code and image the file carries."""
    tmp = path.with_name(path.name + ".part")
    plate = next(p for p in plates if p.index == printed)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?>\n<Types/>\n')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships/>\n')
        z.writestr("3D/3dmodel.model", '<?xml version="1.0"?>\n<model unit="millimeter"/>\n')
        z.writestr(f"Metadata/plate_{printed}.gcode", gcode(plate))
        if kind is Kind.BIG:
            # random bytes, stored: the file really is this big on the wire
            with z.open(zipfile.ZipInfo(f"Metadata/plate_{printed}_supports.gcode"), "w",
                        force_zip64=True) as member:
                left = max(0, size)
                while left > 0:
                    step = min(left, 1 << 20)
                    member.write(os.urandom(step))
                    left -= step
        z.writestr(f"Metadata/plate_{printed}.png", tiny_png(), zipfile.ZIP_STORED)
        if kind is Kind.ZIP_BOMB:
            with z.open("Metadata/slice_info.config", "w", force_zip64=True) as member:
                block = b"\0" * (1 << 20)
                for _ in range(BOMB_SIZE >> 20):
                    member.write(block)
        elif kind is Kind.XML_BOMB:
            z.writestr("Metadata/slice_info.config", XML_BOMB)
        else:
            z.writestr("Metadata/slice_info.config", slice_info(plates))
    os.replace(tmp, path)
