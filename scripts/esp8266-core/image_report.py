#!/usr/bin/env python3
"""Memory figures of a linked ESP8266 sketch, and whether it fits.

Used by scripts/check-esp8266-core.sh. Inputs: the ELF (its sections, read
with xtensa-lx106-elf-readelf), the link map (-Wl,-Map), the linker scripts
the core's prelink steps generated (for the memory regions), and the limits.

Prints, for the image:
- IRAM: code in instruction RAM (sections inside iram1_0_seg);
- DRAM: .data + .rodata + .bss (sections inside dram0_0_seg);
- flash: code and constants in flash (sections inside irom0_0_seg), and the
  program size the Arduino IDE reports (recipe.size.regex: .irom0.text,
  .text, .text1, .data, .rodata);
and for each named input (an archive such as libmqttvpn.a, or object
files), its share of each region, from the map.

Exit status 1 if the image exceeds a limit.
"""
import argparse
import re
import subprocess
import sys

MEMORY_LINE = re.compile(
    r"^\s*(\w+)\s*:\s*org\s*=\s*(0x[0-9a-fA-F]+|\w+)\s*,\s*len\s*=\s*(0x[0-9a-fA-F]+|\d+|\w+)")


def parse_int(text, defines):
    text = text.strip()
    if text in defines:
        return defines[text]
    return int(text, 0)


def memory_regions(ld_files, defines):
    regions = {}
    for path in ld_files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = MEMORY_LINE.match(line)
                if m:
                    regions[m.group(1)] = (parse_int(m.group(2), defines),
                                           parse_int(m.group(3), defines))
    return regions


def elf_sections(readelf, elf):
    out = subprocess.run([readelf, "-W", "-S", elf], check=True,
                         capture_output=True, text=True).stdout
    sections = []
    for line in out.splitlines():
        m = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if not m:
            continue
        name, kind, addr, size, flags = m.groups()
        if "A" not in flags:        # not loaded: debug info, symbols
            continue
        sections.append((name, int(addr, 16), int(size, 16)))
    return sections


def region_of(addr, regions):
    for name, (org, length) in regions.items():
        if org <= addr < org + length:
            return name
    return None


def map_contributions(map_path):
    """(output section, input section, addr, size, file) from a GNU ld map."""
    result = []
    out_section = None
    started = False
    pending = None   # input section name whose numbers are on the next line
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not started:
                if line.startswith("Linker script and memory map"):
                    started = True
                continue
            if line and not line[0].isspace():
                out_section = line.split()[0]
                pending = None
                continue
            if pending is not None:
                m = re.match(r"^\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(.+)$", line)
                if m:
                    result.append((out_section, pending, int(m.group(1), 16),
                                   int(m.group(2), 16), m.group(3).strip()))
                pending = None
                continue
            m = re.match(r"^ (\.\S+|COMMON)\s*$", line)
            if m:
                pending = m.group(1)
                continue
            m = re.match(r"^ (\.\S+|COMMON)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(.+)$", line)
            if m:
                result.append((out_section, m.group(1), int(m.group(2), 16),
                               int(m.group(3), 16), m.group(4).strip()))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elf", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--ld", action="append", required=True,
                    help="generated linker script with a MEMORY block")
    ap.add_argument("--define", action="append", default=[],
                    help="NAME=VALUE for symbolic lengths (MMU_IRAM_SIZE)")
    ap.add_argument("--iram-limit", type=int, required=True)
    ap.add_argument("--dram-limit", type=int, required=True)
    ap.add_argument("--flash-limit", type=int, required=True)
    ap.add_argument("--share", action="append", default=[],
                    help="LABEL=SUBSTRING: inputs whose map file field contains SUBSTRING")
    ap.add_argument("--prefix", default="")
    args = ap.parse_args()

    defines = {}
    for d in args.define:
        k, v = d.split("=", 1)
        defines[k] = int(v, 0)
    regions = memory_regions(args.ld, defines)
    for needed in ("iram1_0_seg", "dram0_0_seg", "irom0_0_seg"):
        if needed not in regions:
            sys.exit(f"image_report: no {needed} in the linker scripts")
    kinds = {"iram1_0_seg": "IRAM", "dram0_0_seg": "DRAM", "irom0_0_seg": "flash"}

    totals = {"IRAM": 0, "DRAM": 0, "flash": 0}
    ide_program = 0
    dram_parts = {}
    for name, addr, size in elf_sections(args.readelf, args.elf):
        region = region_of(addr, regions)
        if region in kinds:
            totals[kinds[region]] += size
            if kinds[region] == "DRAM":
                dram_parts[name] = dram_parts.get(name, 0) + size
        if re.match(r"^(\.irom0\.text|\.text|\.text1|\.data|\.rodata)$", name):
            ide_program += size

    p = args.prefix
    print(f"{p}IRAM  {totals['IRAM']:7d} of {args.iram_limit} bytes"
          f" ({100.0 * totals['IRAM'] / args.iram_limit:.1f} %)")
    parts = ", ".join(f"{k} {v}" for k, v in sorted(dram_parts.items()))
    print(f"{p}DRAM  {totals['DRAM']:7d} of {args.dram_limit} bytes"
          f" ({100.0 * totals['DRAM'] / args.dram_limit:.1f} %): {parts}")
    print(f"{p}flash {totals['flash']:7d} bytes of code and constants in flash;"
          f" program size (IDE) {ide_program} of {args.flash_limit} bytes"
          f" ({100.0 * ide_program / args.flash_limit:.1f} %)")

    summary = (f"IRAM {totals['IRAM']}, DRAM {totals['DRAM']}, flash code {totals['flash']},"
               f" program {ide_program}")
    contributions = map_contributions(args.map)
    for spec in args.share:
        label, needle = spec.split("=", 1)
        share = {"IRAM": 0, "DRAM": 0, "flash": 0}
        dram_by_out = {}
        for out_sec, in_sec, addr, size, origin in contributions:
            if needle not in origin or size == 0:
                continue
            region = region_of(addr, regions)
            if region in kinds:
                share[kinds[region]] += size
                if kinds[region] == "DRAM":
                    dram_by_out[out_sec] = dram_by_out.get(out_sec, 0) + size
        detail = ", ".join(f"{k} {v}" for k, v in sorted(dram_by_out.items())) or "none"
        print(f"{p}{label}: DRAM {share['DRAM']} bytes ({detail}),"
              f" IRAM {share['IRAM']}, flash {share['flash']}")
        if spec is args.share[0]:
            summary += f"; {label}: DRAM {share['DRAM']}, flash {share['flash']}"
            biggest = sorted(
                ((size, in_sec, origin) for out_sec, in_sec, addr, size, origin in contributions
                 if needle in origin and size and region_of(addr, regions) == "dram0_0_seg"),
                reverse=True)[:5]
            for size, in_sec, origin in biggest:
                member = origin[origin.find(needle):] if needle in origin else origin
                print(f"{p}    DRAM {size:6d} {in_sec} {member}")

    print(f"SUMMARY {p}{summary}")
    failed = False
    if totals["IRAM"] > args.iram_limit:
        print(f"{p}FAIL: IRAM {totals['IRAM']} > {args.iram_limit}")
        failed = True
    if totals["DRAM"] > args.dram_limit:
        print(f"{p}FAIL: DRAM {totals['DRAM']} > {args.dram_limit}")
        failed = True
    if ide_program > args.flash_limit:
        print(f"{p}FAIL: program {ide_program} > {args.flash_limit}")
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
