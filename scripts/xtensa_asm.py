#!/usr/bin/env python3
"""Rewrites the assembly rustc/LLVM writes for an ESP8266 (Xtensa lx106,
call0) into assembly that GNU as (binutils-xtensa-lx106) turns into objects
the ESP8266 Arduino core's GNU ld links and places correctly.

Why this exists: LLVM's integrated assembler puts each function's literal
pool at the end of the previous function's section, unaligned, and GNU ld
refuses those objects ("l32r: misaligned literal target"); no LLVM option
changes that. LLVM's *assembly* is right, so the build has rustc emit it and
assembles it with GNU as instead. No existing tool does this rewrite.

What it changes, line by line:
- `.cfi_*` lines are dropped (GNU as for this target has no CFI support we
  need; the objects carry no unwind tables, the build aborts on panic);
- `.addrsig*` lines are dropped (an LLVM-only ELF extension);
- the literal lines LLVM writes before a function's `.section` line
  (`.literal_position`, `.literal ...`) are moved after it, so each pool
  lands in the section of the function that uses it; the objects are
  assembled with `--text-section-literals`, which puts every pool inside the
  code section right before its function, where `l32r` reaches it;
- code goes to flash: `.text*` becomes `.irom0.text*`, which the core's
  linker script places in flash for any object (IRAM is 32 KB, all taken by
  the SDK and the core);
- jump tables (read-only sections holding only `.LJTI` labels and `.word`
  entries, which LLVM reads with aligned 32-bit `l32i` only) go to flash too.
  All other read-only data stays in `.rodata*` (DRAM): the ESP8266 faults on
  byte and 16-bit loads from flash, and a string or a byte table may be read
  that way.

usage: xtensa_asm.py IN.s OUT.s   (prints a one-line summary to stderr)
       xtensa_asm.py --check OBJ.o  (fails unless the object keeps the rules:
                                     no code outside flash, every l32r reads
                                     an aligned literal of its own section)
"""

import re
import subprocess
import sys

SECTION = re.compile(r'^\s*\.section\s+([^\s,]+)(.*)$')
LITERAL = re.compile(r'^\s*\.(literal_position|literal\s)')
JUMP_TABLE_LINE = re.compile(r'^\s*(\.LJTI\d+_\d+:|\.p2align\s+\d+(,\s*0x[0-9a-fA-F]+)?|\.(word|4byte|long)\s+\.LBB\S+)\s*$')


def flash_name(name):
    """The flash section for code section `name`, or None if not code."""
    if name == '.text' or name.startswith('.text.'):
        return '.irom0' + name
    return None


def split_sections(lines):
    """Yields (section_line_index, name) for every `.section` line."""
    for i, line in enumerate(lines):
        m = SECTION.match(line)
        if m:
            yield i, m.group(1)


def jump_table_sections(lines):
    """Names of read-only sections whose every body line is a jump table line."""
    bodies = {}
    current = None
    for line in lines:
        m = SECTION.match(line)
        if m:
            current = m.group(1)
            bodies.setdefault(current, [])
            continue
        if current is not None and line.strip() and not LITERAL.match(line):
            bodies[current].append(line)
    return {
        name for name, body in bodies.items()
        if name.startswith('.rodata.') and body
        and all(JUMP_TABLE_LINE.match(l) for l in body)
        and any(l.strip().startswith('.LJTI') for l in body)
    }


def rewrite(lines):
    tables = jump_table_sections(lines)
    out = []
    pending = []          # literal lines waiting for their function's section
    in_code = False
    moved = renamed = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith('.cfi_') or stripped.startswith('.addrsig'):
            continue
        if LITERAL.match(line):
            pending.append(line)
            continue
        m = SECTION.match(line)
        if m:
            name, rest = m.group(1), m.group(2)
            new = flash_name(name)
            if new is None and name in tables:
                new = '.irom0.text.jumptable' + name[len('.rodata'):]
                rest = ',"a",@progbits'
                moved += 1
            if new is not None:
                renamed += 1
                line = '\t.section\t%s%s\n' % (new, rest)
            in_code = flash_name(name) is not None
            out.append(line)
            continue
        if pending and in_code and stripped:
            out.extend(pending)
            pending = []
        out.append(line)
    if pending:
        raise SystemExit('xtensa_asm.py: literal lines with no function after them')
    return out, renamed, moved


DISASSEMBLY = re.compile(r'^Disassembly of section (\S+):$')
L32R = re.compile(r'^\s*([0-9a-f]+):\s+[0-9a-f]+\s+l32r\s')
RELOC = re.compile(r'^\s*([0-9a-f]+): R_XTENSA_SLOT0_OP\s+(\S+?)(?:\+0x([0-9a-f]+))?$')
# Sections of an object that hold neither code nor data the program reads.
BOOKKEEPING = ('.xt.', '.debug', '.comment', '.note', '.xtensa.info', '.symtab', '.strtab',
               '.shstrtab', '.rela')


def sections(obj):
    """(name, size, alignment) of every section of `obj`."""
    text = subprocess.run(['xtensa-lx106-elf-readelf', '-SW', obj], check=True,
                          capture_output=True, text=True).stdout
    found = []
    for line in text.splitlines():
        m = re.match(r'^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)'
                     r'\s+\S+\s+\S*\s+\d+\s+\d+\s+(\d+)$', line)
        if m:
            found.append((m.group(1), int(m.group(2), 16), int(m.group(3))))
    return found


def check(obj):
    """Problems with the placement rules in `obj`, one string each."""
    problems = []
    for name, size, align in sections(obj):
        if name.startswith(BOOKKEEPING) or size == 0:
            continue
        if name.startswith('.irom0.text'):
            if align < 4:
                problems.append('%s is aligned to %d, not 4' % (name, align))
        elif not name.startswith(('.rodata', '.data', '.bss', '.sdata', '.sbss')):
            problems.append('%s (%d bytes) is neither flash code nor data: it would land in IRAM'
                            % (name, size))
    dump = subprocess.run(['xtensa-lx106-elf-objdump', '-dr', obj], check=True,
                          capture_output=True, text=True).stdout.splitlines()
    section, l32r_count = None, 0
    for i, line in enumerate(dump):
        m = DISASSEMBLY.match(line)
        if m:
            section = m.group(1)
            continue
        m = L32R.match(line)
        if not m:
            continue
        l32r_count += 1
        reloc = RELOC.match(dump[i + 1]) if i + 1 < len(dump) else None
        if reloc is None or reloc.group(1) != m.group(1):
            problems.append('%s+0x%s: l32r without a literal relocation' % (section, m.group(1)))
            continue
        target, offset = reloc.group(2), int(reloc.group(3) or '0', 16)
        if target != section:
            problems.append('%s+0x%s: l32r reads a literal in %s' % (section, m.group(1), target))
        elif offset % 4:
            problems.append('%s+0x%s: l32r reads a misaligned literal (+0x%x)'
                            % (section, m.group(1), offset))
    if l32r_count == 0:
        problems.append('no l32r found: the disassembly was not read')
    return problems, l32r_count


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--check':
        problems, count = check(sys.argv[2])
        for problem in problems[:20]:
            print('xtensa_asm.py: ' + problem, file=sys.stderr)
        if problems:
            raise SystemExit('xtensa_asm.py: %d problems in %s' % (len(problems), sys.argv[2]))
        print('xtensa_asm.py: %d l32r, each reading an aligned literal of its own section; '
              'no code outside .irom0.text' % count, file=sys.stderr)
        return
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split('usage: ')[1])
    with open(sys.argv[1]) as f:
        lines = f.readlines()
    out, renamed, moved = rewrite(lines)
    with open(sys.argv[2], 'w') as f:
        f.writelines(out)
    print('xtensa_asm.py: %d sections moved to flash (%d jump tables)' % (renamed, moved),
          file=sys.stderr)


if __name__ == '__main__':
    main()
