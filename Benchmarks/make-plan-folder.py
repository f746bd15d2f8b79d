#!/usr/bin/env python3
"""Generate a deterministic, realistic "plan folder" for backup benchmarks.

The tree looks like what a public agency keeps for business continuity:
BCP/, DRP/, COOP/, Contacts/, Runbooks/, Supporting/, Exercises/, Archive/
with nested sub-folders.  By bytes it is roughly

  ~75 %  already-compressed documents and media: .docx/.xlsx/.pptx/.zip
         (real zip archives: deflated XML + stored images), .pdf (deflated
         content streams + JPEG images), .jpg, and one large video-like file
  ~20 %  compressible text: markdown runbooks, CSV contact lists, logs, JSON,
         including one large CSV export
   ~5 %  a disk-image-like file (zero runs, repeated extents, random extents)

plus hundreds of small (< 4 KiB) files, two empty files, one empty directory,
one symlink, and names with spaces and non-ASCII characters.

Usage:
  make-plan-folder.py OUTDIR [--size-mib 1024] [--files 5000] [--seed 1]
  make-plan-folder.py OUTDIR --mutate [--seed 1]

The same arguments always produce the same tree (names, contents and
mtimes).  --mutate edits a deterministic ~1 % of the files of an existing
tree in place (mid-file inserts in the two largest files, appends to text,
re-saved documents, a few touched files, two new files, one deleted file);
it is meant to be run once between two backups to time an incremental one.

Standard library only.  Bulk bytes come from random.Random.randbytes in
64 KiB pieces and text from byte-indexed word tables, so 1 GiB takes a few
seconds, not minutes.
"""

import argparse
import io
import json
import os
import random
import sys
import time
import unicodedata
import zipfile
import zlib
from xml.sax.saxutils import escape as xml_escape

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Fixed epoch for generated mtimes (2019-01-01T00:00:00Z) and the span after it.
MTIME_BASE = 1546300800
MTIME_SPAN = int(5.5 * 365 * 86400)

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

_WORDS = """
continuity recovery plan incident response emergency essential function
critical service restore backup alternate site succession delegation authority
department agency staff personnel contact notify escalate assess damage impact
analysis priority tier objective time point system network server database
application vendor contract supply chain facility building power generator
fuel water communications radio phone email public information officer
coordinate command center operations logistics finance administration
checklist procedure step verify confirm document report review exercise
tabletop drill training lessons learned improvement risk threat hazard flood
fire storm earthquake pandemic cyber ransomware outage failure disruption
mitigation preparedness resilience dependency workaround manual process payroll
permits records archive retention evacuation shelter assembly accountability
roster activation deactivation reconstitution devolution mission orders vital
telework laptop vpn token credential access badge director manager supervisor
""".split()
_GLUE = "the a an of to and for with on at by from during after before if when must should shall will may each all within".split()
_INTL = ["contrôle", "procédure", "Übergabe", "sécurité", "Notfall", "planificación",
         "continuidad", "évacuation", "Störung", "réseau", "Wiederanlauf"]
# 256-entry table indexed by random bytes: glue words are frequent, like in real prose.
_VOCAB = (_GLUE * 4 + _WORDS + _INTL)
_VOCAB = (_VOCAB * (256 // len(_VOCAB) + 1))[:256]

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
         "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
         "Thomas", "Sarah", "Carlos", "Karen", "José", "María", "Zoë", "François", "Øyvind",
         "Siobhán", "Mei", "Anh", "Priya", "Ahmed", "Fatima", "Jürgen", "Chloé", "Dmitri",
         "Aaliyah", "Kenji", "Olivia", "Noah", "Emma", "Liam"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson",
        "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Nguyễn", "Müller",
        "O'Brien", "Kowalski", "Dubois", "Šimek", "Yamamoto", "Patel", "Okafor", "Larsen",
        "Rossi", "Novák", "Ivanova", "Clarke"]
ROLES = ["Director", "Deputy Director", "Continuity Coordinator", "IT Manager",
         "Facilities Manager", "PIO", "Finance Officer", "HR Specialist", "Dispatcher",
         "Network Engineer", "DBA", "Records Clerk", "Safety Officer", "Liaison"]
DEPTS = ["Finance", "Human Resources", "Public Works", "Communications",
         "Information Technology", "Emergency Management", "Parks & Recreation",
         "Water Utility", "Clerk's Office", "Planning & Zoning", "Police Records",
         "Fire & Rescue", "Facilities", "Santé publique"]
TOPICS = ["Evacuation", "Pandemic response", "Cyber incident", "Power outage",
          "Flood response", "Alternate facility activation", "Payroll continuity",
          "Public information", "Orders of succession", "Vital records", "Ransomware",
          "Severe weather", "Water main break", "Telework surge", "Fuel shortage"]
SYSTEMS = ["Email", "ERP", "GIS", "Permitting", "Payroll", "911 CAD", "Fileserver",
           "Active Directory", "VPN", "Website", "Utility billing", "Records management"]
BUILDINGS = ["City Hall", "Annex B", "Public Works Yard", "EOC", "Library", "Station 3",
             "Bâtiment B", "Water Treatment Plant"]
VENDORS = ["Acme Generators", "Northwind Telecom", "Contoso Cloud", "Fabrikam Fuel",
           "Tailspin Courier", "Müller Sicherheit GmbH", "Société d'Électricité du Nord",
           "Litware Records"]
HOSTS = ["fs01", "erp-db1", "erp-app2", "gis01", "mail01", "dc01", "dc02", "vpn-gw", "cad-srv"]


def ascii_name(s):
    """'Nguyễn' -> 'nguyen', "O'Brien" -> 'obrien' (for e-mail addresses)."""
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(c for c in s.lower() if c.isalnum())


_ASCII = {n: ascii_name(n) for n in FIRST + LAST}

# Lookup tables so bulk rows index them with random bytes instead of calling
# rng.choice per field (10x faster; the tables themselves are fixed).
_T = random.Random(0)
PHONES = [f"+1-555-{_T.randrange(100, 999)}-{_T.randrange(1000, 9999)}" for _ in range(65536)]
DAYS = [time.strftime("%Y-%m-%d", time.gmtime(MTIME_BASE + d * 86400)) for d in range(2048)]
del _T

# --------------------------------------------------------------------------
# Byte and text helpers
# --------------------------------------------------------------------------


def rbytes(rng, n):
    """n pseudo-random bytes (randbytes is fastest in 64 KiB pieces)."""
    if n <= 0:
        return b""
    if n <= 64 * KiB:
        return rng.randbytes(n)
    parts = [rng.randbytes(64 * KiB) for _ in range(n // (64 * KiB))]
    if n % (64 * KiB):
        parts.append(rng.randbytes(n % (64 * KiB)))
    return b"".join(parts)


def prose(rng, nbytes):
    """About nbytes of sentence/paragraph text, no per-character loops."""
    nbytes = max(0, int(nbytes))
    n = nbytes // 6 + 16
    ws = list(map(_VOCAB.__getitem__, rng.randbytes(n)))
    ws[0] = ws[0].capitalize()
    pos = 0
    for b in rng.randbytes(n // 4 + 1):
        pos += 4 + (b & 15)  # sentences of 4..19 words
        if pos >= n:
            break
        ws[pos - 1] += ".\n\n" if b >= 224 else "."  # 1 in 8 ends a paragraph
        ws[pos] = ws[pos].capitalize()
    return " ".join(ws).replace("\n\n ", "\n\n")[:nbytes]


def fit(data, size):
    """Truncate/pad encoded text to exactly size bytes (valid UTF-8 kept)."""
    if len(data) > size:
        data = data[:size].decode("utf-8", "ignore").encode("utf-8")
    if len(data) < size:
        data += b"\n" * (size - len(data))
    return data


def person(rng):
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def phone(rng):
    return PHONES[rng.getrandbits(16)]


def day(rng):
    return f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


# --------------------------------------------------------------------------
# Text files
# --------------------------------------------------------------------------


def gen_markdown(rng, size):
    out = [f"# Runbook: {rng.choice(TOPICS)} – {rng.choice(SYSTEMS)}\n\n",
           f"_Owner: {person(rng)} · Last reviewed: {day(rng)} · Version {rng.randint(1, 9)}.{rng.randint(0, 9)}_\n\n"]
    n = sum(len(s) for s in out)
    while n < size:
        r = rng.random()
        if r < 0.35:
            s = f"## {rng.choice(TOPICS)}\n\n{prose(rng, rng.randint(200, 2000))}\n\n"
        elif r < 0.65:
            steps = "".join(f"{i}. {prose(rng, rng.randint(40, 160)).replace(chr(10), ' ')}\n"
                            for i in range(1, rng.randint(4, 14)))
            s = f"## Procedure: {rng.choice(SYSTEMS)}\n\n{steps}\n"
        elif r < 0.8:
            items = "".join(f"- [ ] {prose(rng, rng.randint(20, 80)).replace(chr(10), ' ')}\n"
                            for _ in range(rng.randint(3, 10)))
            s = f"### Checklist\n\n{items}\n"
        else:
            rows = "".join(f"| {rng.choice(ROLES)} | {person(rng)} | {phone(rng)} |\n"
                           for _ in range(rng.randint(3, 12)))
            s = f"### Contacts\n\n| Role | Name | Phone |\n|---|---|---|\n{rows}\n"
        out.append(s)
        n += len(s)
    return fit("".join(out).encode(), size)


CSV_HEADER = "id,last_name,first_name,role,department,phone_work,phone_mobile,email,site,call_tree_level,updated\n"


def csv_rows(rng, count, start=1):
    rb = rng.randbytes(count * 12)
    nf, nl, nr, nd, nb = len(FIRST), len(LAST), len(ROLES), len(DEPTS), len(BUILDINGS)
    rows = []
    for k in range(count):
        o = k * 12
        fn, ln = FIRST[rb[o] % nf], LAST[rb[o + 1] % nl]
        rows.append(f"{start + k},{ln},{fn},{ROLES[rb[o + 2] % nr]},{DEPTS[rb[o + 3] % nd]},"
                    f"{PHONES[rb[o + 4] << 8 | rb[o + 5]]},{PHONES[rb[o + 6] << 8 | rb[o + 7]]},"
                    f"{_ASCII[fn]}.{_ASCII[ln]}@agency.example.gov,{BUILDINGS[rb[o + 8] % nb]},"
                    f"{1 + (rb[o + 9] & 3)},{DAYS[(rb[o + 10] << 8 | rb[o + 11]) & 2047]}\n")
    return "".join(rows)


def gen_csv(rng, size):
    rows = csv_rows(rng, size // 110 + 2)
    return fit((CSV_HEADER + rows).encode(), size)


_LOG_MSGS = ["backup job {n} completed in {s}s", "replication lag {s}s on {h}",
             "UPS on battery, est. runtime {s} min", "failed login for svc_{n} from 10.20.{a}.{b}",
             "disk /dev/sd{c} {s}% used", "failover test step {a} ok", "snapshot {n} verified",
             "generator weekly test: load {s}%", "link down on ge-0/0/{a}, rerouting",
             "certificate for {h} expires in {s} days", "restore drill: {n} files restored"]


def log_lines(rng, nbytes, t0):
    out, n, t = [], 0, t0
    levels = ["INFO", "INFO", "INFO", "WARN", "ERROR", "INFO", "DEBUG", "INFO"]
    nm, nh = len(_LOG_MSGS), len(HOSTS)
    while n < nbytes:
        rb = rng.randbytes(4096)
        for o in range(0, 4096, 8):
            t += 1 + (rb[o] << 2 | rb[o + 1] & 3)
            msg = _LOG_MSGS[rb[o + 2] % nm].format(
                n=1000 + (rb[o + 3] << 8 | rb[o + 4]), s=1 + rb[o + 5] % 100, h=HOSTS[rb[o + 6] % nh],
                a=rb[o + 7] % 48, b=1 + rb[o + 3], c="abcdef"[rb[o + 4] % 6])
            line = (f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))} {HOSTS[rb[o + 5] % nh]} "
                    f"{levels[rb[o + 6] & 7]} {msg}\n")
            out.append(line)
            n += len(line)
            if n >= nbytes:
                break
    return "".join(out)


def gen_log(rng, size):
    return fit(log_lines(rng, size, MTIME_BASE + rng.randrange(MTIME_SPAN)).encode(), size)


def gen_txt(rng, size):
    return fit(f"Notes – {rng.choice(TOPICS)} ({day(rng)})\n\n{prose(rng, size)}".encode(), size)


def gen_json(rng, size):
    """A systems inventory; valid JSON, size approximate."""
    items, n = [], 0
    while n < size:
        it = {"system": rng.choice(SYSTEMS), "host": rng.choice(HOSTS), "tier": rng.randint(1, 4),
              "rto_hours": rng.choice([1, 4, 8, 24, 72, 168]),
              "rpo_minutes": rng.choice([0, 15, 60, 240, 1440]),
              "owner": person(rng), "department": rng.choice(DEPTS),
              "depends_on": rng.sample(SYSTEMS, rng.randint(0, 3)),
              "notes": prose(rng, rng.randint(0, 200))}
        items.append(it)
        n += 180 + len(it["notes"])
    doc = {"generated": day(rng), "agency": "Example County", "systems": items}
    return json.dumps(doc, indent=2, ensure_ascii=False).encode()


def gen_url(rng, size):
    return (f"[InternetShortcut]\nURL=https://intranet.agency.example.gov/continuity/"
            f"{ascii_name(rng.choice(TOPICS))}/{rng.randint(1, 999)}\n").encode()


# --------------------------------------------------------------------------
# Compressed documents and media
# --------------------------------------------------------------------------


def fake_jpeg(rng, size):
    w, h = rng.choice([(4032, 3024), (1920, 1080), (2480, 3508), (1600, 1200)])
    exif = f"Exif\0\0Camera {rng.choice(['iPhone 12', 'Pixel 6', 'Canon EOS', 'Ricoh scanner'])} {day(rng)}".encode()
    head = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00"
            + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
            + b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65))
            + b"\xff\xc0\x00\x11\x08" + h.to_bytes(2, "big") + w.to_bytes(2, "big")
            + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            + b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    return head + rbytes(rng, size - len(head) - 2) + b"\xff\xd9"


def _png_chunk(kind, data):
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def fake_png(rng, size):
    ihdr = _png_chunk(b"IHDR", (800).to_bytes(4, "big") + (600).to_bytes(4, "big") + b"\x08\x06\x00\x00\x00")
    body = rbytes(rng, max(0, size - 8 - len(ihdr) - 12 - 12))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def _zip_dt(rng):
    return (rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28),
            rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 29) * 2)


def _zadd(zf, name, data, dt, deflate=True):
    zi = zipfile.ZipInfo(name, date_time=dt)
    zi.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    zi.external_attr = 0o644 << 16
    zf.writestr(zi, data, compresslevel=6 if deflate else None)


def _fill_media(zf, buf, rng, size, pattern, dt, maker):
    """Add stored images until the archive is about `size` bytes."""
    remaining = size - buf.tell() - 400
    if remaining < 4 * KiB:
        return
    k = rng.randint(1, 4)
    for i in range(1, k + 1):
        part = remaining // (k - i + 1) if i < k else remaining
        part = max(1 * KiB, part - 120)
        _zadd(zf, pattern.format(i), maker(rng, part), dt, deflate=False)
        remaining -= part + 120


_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/>'
       '<Default Extension="png" ContentType="image/png"/><Override PartName="{part}" ContentType="{ct}"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{part}"/></Relationships>')


def _core(rng):
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>' + xml_escape(rng.choice(TOPICS)) +
            '</dc:title><dc:creator>' + xml_escape(person(rng)) + '</dc:creator></cp:coreProperties>')


def gen_docx(rng, size):
    buf, dt = io.BytesIO(), _zip_dt(rng)
    text = prose(rng, min(size // 4, 64 * KiB))
    paras = "".join(f'<w:p><w:pPr><w:pStyle w:val="{rng.choice(["Normal", "Heading1", "ListParagraph"])}"/></w:pPr>'
                    f'<w:r><w:t xml:space="preserve">{xml_escape(p)}</w:t></w:r></w:p>' for p in text.split("\n\n"))
    with zipfile.ZipFile(buf, "w") as zf:
        _zadd(zf, "[Content_Types].xml", _CT.format(part="/word/document.xml", ct="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"), dt)
        _zadd(zf, "_rels/.rels", _RELS.format(part="word/document.xml"), dt)
        _zadd(zf, "docProps/core.xml", _core(rng), dt)
        _zadd(zf, "word/document.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
              '"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + paras + "</w:body></w:document>", dt)
        _fill_media(zf, buf, rng, size, "word/media/image{}.jpeg", dt, fake_jpeg)
    return buf.getvalue()


def gen_xlsx(rng, size):
    buf, dt = io.BytesIO(), _zip_dt(rng)
    rows, n, r = [], 0, 1
    budget = min(size // 2, 128 * KiB)
    while n < budget:
        row = (f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{xml_escape(rng.choice(SYSTEMS))}</t></is></c>'
               f'<c r="B{r}"><v>{rng.randint(1, 4)}</v></c><c r="C{r}"><v>{rng.choice([1, 4, 8, 24, 72])}</v></c>'
               f'<c r="D{r}"><v>{rng.random() * 1e5:.2f}</v></c><c r="E{r}" t="inlineStr"><is><t>{xml_escape(person(rng))}</t></is></c></row>')
        rows.append(row)
        n += len(row)
        r += 1
    with zipfile.ZipFile(buf, "w") as zf:
        _zadd(zf, "[Content_Types].xml", _CT.format(part="/xl/workbook.xml", ct="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"), dt)
        _zadd(zf, "_rels/.rels", _RELS.format(part="xl/workbook.xml"), dt)
        _zadd(zf, "docProps/core.xml", _core(rng), dt)
        _zadd(zf, "xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets>'
              '<sheet name="BIA" sheetId="1"/></sheets></workbook>', dt)
        _zadd(zf, "xl/worksheets/sheet1.xml", '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<sheetData>' + "".join(rows) + "</sheetData></worksheet>", dt)
        _fill_media(zf, buf, rng, size, "xl/media/image{}.png", dt, fake_png)
    return buf.getvalue()


def gen_pptx(rng, size):
    buf, dt = io.BytesIO(), _zip_dt(rng)
    with zipfile.ZipFile(buf, "w") as zf:
        _zadd(zf, "[Content_Types].xml", _CT.format(part="/ppt/presentation.xml", ct="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"), dt)
        _zadd(zf, "_rels/.rels", _RELS.format(part="ppt/presentation.xml"), dt)
        _zadd(zf, "docProps/core.xml", _core(rng), dt)
        for i in range(1, rng.randint(4, 20)):
            _zadd(zf, f"ppt/slides/slide{i}.xml", '<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:txBody>'
                  + xml_escape(prose(rng, rng.randint(200, 1500))) + "</p:txBody></p:sld>", dt)
        _fill_media(zf, buf, rng, size, "ppt/media/image{}.jpeg", dt, fake_jpeg)
    return buf.getvalue()


def gen_zip(rng, size):
    """An archive of scans and notes: stored media members, deflated text members."""
    buf, dt = io.BytesIO(), _zip_dt(rng)
    with zipfile.ZipFile(buf, "w") as zf:
        i = 0
        while buf.tell() < size - 2 * KiB:
            i += 1
            left = size - buf.tell() - 300
            if rng.random() < 0.15:
                _zadd(zf, f"notes/notes-{i:03d}.txt", prose(rng, min(left * 3, rng.randint(2, 40) * KiB)), dt)
            else:
                part = max(KiB, min(left, int(rng.lognormvariate(12.5, 1.0))))
                _zadd(zf, f"scans/scan-{i:03d}.jpg", fake_jpeg(rng, part), dt, deflate=False)
    return buf.getvalue()


def gen_pdf(rng, size):
    """PDF with deflated text content streams and DCT (JPEG) images per page."""
    pages = max(1, min(40, size // (96 * KiB)))
    text_budget = min(size // 6, 32 * KiB)
    contents = []
    for _ in range(pages):
        lines = prose(rng, text_budget // pages + 40).replace("\n", " ")
        lines = lines.encode("latin-1", "replace").replace(b"\\", b"").replace(b"(", b"").replace(b")", b"")
        ops = b"BT /F1 11 Tf 72 720 Td 14 TL\n" + b"".join(
            b"(" + lines[j:j + 90] + b") '\n" for j in range(0, len(lines), 90)) + b"ET\n"
        contents.append(zlib.compress(ops, 6))
    overhead = 600 + pages * 450
    img_total = size - overhead - sum(len(c) for c in contents)
    with_img = img_total >= pages * 2 * KiB
    per = (img_total // pages) if with_img else 0

    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            4: b"<< /Producer (PlanVault benchmark generator) /Title (" +
               rng.choice(TOPICS).encode("latin-1", "replace") + b") >>"}
    kids, num = [], 5
    for p in range(pages):
        page, cont, img = num, num + 1, num + 2
        num += 3 if with_img else 2
        kids.append(page)
        res = b"<< /Font << /F1 3 0 R >>" + (b" /XObject << /Im1 %d 0 R >>" % img if with_img else b"") + b" >>"
        objs[page] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s /Contents %d 0 R >>" % (res, cont)
        stream = contents[p]
        objs[cont] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)
        if with_img:
            jpg = fake_jpeg(rng, per)
            objs[img] = (b"<< /Type /XObject /Subtype /Image /Width 1700 /Height 2200 /ColorSpace /DeviceRGB "
                         b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream" % (len(jpg), jpg))
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i in range(1, num):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + objs[i] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % num
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (num, xref)
    return bytes(out)


GENERATORS = {
    ".pdf": gen_pdf, ".docx": gen_docx, ".xlsx": gen_xlsx, ".pptx": gen_pptx,
    ".jpg": fake_jpeg, ".zip": gen_zip,
    ".md": gen_markdown, ".csv": gen_csv, ".log": gen_log, ".txt": gen_txt,
    ".json": gen_json, ".url": gen_url,
}
TEXT_EXTS = {".md", ".csv", ".log", ".txt", ".json", ".url"}

# --------------------------------------------------------------------------
# Large files (streamed in 1 MiB pieces)
# --------------------------------------------------------------------------


def write_video(f, rng, size):
    head = (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
            b"\x00\x00\x00\x08free" + (max(0, size - 40) & 0xFFFFFFFF).to_bytes(4, "big") + b"mdat")
    f.write(head)
    left = size - len(head)
    while left > 0:
        n = min(left, MiB)
        f.write(rbytes(rng, n))
        left -= n


def write_big_csv(f, rng, size):
    f.write(CSV_HEADER.encode())
    left, i = size - len(CSV_HEADER), 1
    while left > 0:
        chunk = csv_rows(rng, 8000, start=i).encode()
        i += 8000
        chunk = chunk[:left]
        f.write(chunk)
        left -= len(chunk)


def write_disk_image(f, rng, size):
    """Extents of zeros, copies of earlier extents, and fresh random data."""
    pool, left = [], size
    while left > 0:
        ext = min(left, rng.choice([64, 128, 256, 512, 1024, 2048, 4096]) * KiB)
        r = rng.random()
        if r < 0.30:
            data = bytes(ext)
        elif r < 0.55 and pool:
            data = rng.choice(pool)[:ext]
        elif r < 0.65:
            data = fit(log_lines(rng, ext, MTIME_BASE).encode(), ext)  # text in a filesystem
        else:
            data = rbytes(rng, ext)
            if ext >= MiB and len(pool) < 16:
                pool.append(data)
        f.write(data)
        left -= len(data)


# --------------------------------------------------------------------------
# Tree layout and plan
# --------------------------------------------------------------------------

DIRS = [
    "BCP", "BCP/Departments/Finance", "BCP/Departments/Human Resources",
    "BCP/Departments/Public Works", "BCP/Departments/Santé publique",
    "BCP/Business Impact Analysis", "BCP/Templates", "BCP/Régions/Île-de-France",
    "DRP", "DRP/Systems/Email", "DRP/Systems/ERP", "DRP/Systems/GIS", "DRP/Systems/Permitting",
    "DRP/Systems/911 CAD", "DRP/Network", "DRP/Images",
    "COOP", "COOP/Annexes", "COOP/Essential Functions", "COOP/Alternate Sites/Site B – Annex",
    "COOP/Orders of Succession",
    "Contacts", "Contacts/Exports", "Contacts/Vendors", "Contacts/Staff",
    "Runbooks", "Runbooks/IT", "Runbooks/IT/Database", "Runbooks/Facilities",
    "Runbooks/Communications", "Runbooks/Cyber Incident",
    "Supporting", "Supporting/Scans/2021", "Supporting/Scans/2022", "Supporting/Scans/2023",
    "Supporting/Media", "Supporting/Maps", "Supporting/Contracts", "Supporting/Photos/Site visits",
    "Exercises/2022 Tabletop", "Exercises/2023 Functional", "Exercises/2024 Full-scale/After-action",
    "Archive/2019", "Archive/2020", "Archive/Superseded plans", "Notfallpläne",
]
EMPTY_DIR = "Archive/Superseded plans/2018 (to be purged)"
EMPTY_FILES = ["DRP/Systems/Email/.keep", "Runbooks/IT/TODO – fill in after migration.txt"]
SYMLINK = ("Contacts/Current contact list.csv", "Staff/Contact list 2024-Q3.csv")

# kind -> (count weight, top-level prefixes it lives under, name templates)
DOC_KINDS = {
    ".pdf": (30, ["BCP", "COOP", "DRP", "Supporting/Contracts", "Supporting/Scans", "Archive", "Exercises", "Notfallpläne"],
             ["{dept} Continuity Plan {year}", "Signed MOU - {vendor}", "Scan {date}", "Annex {letter} - {topic}",
              "Floor plan {building}", "Insurance policy {year}", "{topic} procedure", "Board resolution {year}-{n}"]),
    ".docx": (25, ["BCP", "COOP", "DRP", "Exercises", "Archive", "Notfallpläne"],
              ["{dept} BCP v{v}", "{topic} plan - draft {n}", "After-action report {date}",
               "Delegation of authority - {dept}", "Vital records inventory {year}", "Minutes {date}"]),
    ".xlsx": (10, ["BCP/Business Impact Analysis", "Contacts", "Exercises", "DRP"],
              ["BIA {dept} {year}", "RTO RPO matrix {year}", "Call tree {dept}", "Inventory {building}",
               "Exercise scoring {date}"]),
    ".pptx": (5, ["Exercises", "BCP"], ["{topic} briefing {date}", "Exercise kickoff {year}", "Training - {topic}"]),
    ".jpg": (22, ["Supporting/Photos", "Supporting/Maps", "Exercises", "Supporting/Scans"],
             ["IMG_{n4}", "DSC{n5}", "Site photo {date} {n}", "{building} entrance {n}", "Whiteboard {date}"]),
    ".zip": (8, ["Supporting", "Archive", "DRP"],
             ["Scans {year}-Q{q}", "Vendor contracts {year}", "GIS export {date}", "Exercise materials {year}"]),
}
TEXT_KINDS = {
    ".md": (30, ["Runbooks", "DRP/Systems", "COOP/Essential Functions"],
            ["{system} failover", "{system} restore procedure", "{topic} checklist", "README", "Runbook - {topic}"]),
    ".csv": (20, ["Contacts", "BCP/Business Impact Analysis"],
             ["Contacts {dept}", "Call tree {dept} {year}", "Vendor list {year}", "Staff roster {date}", "Asset list {building}"]),
    ".log": (20, ["DRP/Systems", "Runbooks/IT", "Exercises"], ["{system} {date}", "failover-test-{date}", "backup-{date}"]),
    ".json": (10, ["DRP/Systems", "Runbooks/IT"], ["{system} inventory", "dependencies-{system}", "config-{system}"]),
    ".txt": (20, [""], ["Notes {date}", "{topic} notes", "phone numbers {dept}", "TODO {date}"]),
}
SMALL_KINDS = {
    ".md": (30, ["Runbooks", "DRP", "COOP", "BCP"], ["README", "{system} quick reference", "{topic} card"]),
    ".txt": (30, [""], ["readme", "{topic} notes", "password hint location {n}", "TODO {date}"]),
    ".json": (15, ["DRP/Systems", "Runbooks/IT"], ["{system} settings", "manifest-{n}"]),
    ".csv": (15, ["Contacts"], ["{dept} on-call", "Vendor hotline {vendor}"]),
    ".url": (10, [""], ["Intranet - {topic}", "Status page {system}"]),
}
# Real-world names with non-ASCII characters, used first for their kind.
FIXED_NAMES = {
    ".docx": ["BCP/Plan de continuité d'activité 2024.docx", "Notfallpläne/Notfallhandbuch Übersicht.docx"],
    ".pdf": ["COOP/Annexes/Notfallplan – Übersicht.pdf", "COOP/Orders of Succession/Ordre de succession (signé).pdf"],
    ".csv": ["Contacts/緊急連絡先リスト.csv", "Contacts/Staff/Contact list 2024-Q3.csv"],
    ".md": ["Runbooks/Évacuation bâtiment B.md", "Runbooks/Cyber Incident/Ransomware – first 60 minutes.md"],
    ".jpg": ["Supporting/Maps/Карта эвакуации.jpg"],
}


def _dirs_for(prefixes):
    return [d for d in DIRS if any(p == "" or d == p or d.startswith(p + "/") for p in prefixes)]


def _name(rng, template):
    return template.format(
        dept=rng.choice(DEPTS), vendor=rng.choice(VENDORS), year=rng.randint(2019, 2024), date=day(rng),
        topic=rng.choice(TOPICS), building=rng.choice(BUILDINGS), system=rng.choice(SYSTEMS),
        letter="ABCDEFGHJK"[rng.randint(0, 9)], v=f"{rng.randint(1, 6)}.{rng.randint(0, 9)}",
        n=rng.randint(1, 40), n4=rng.randint(1000, 9999), n5=rng.randint(10000, 99999), q=rng.randint(1, 4))


def spread(rng, n, total, lo, hi, sigma):
    """n lognormal sizes clamped to [lo, hi] that add up to about total."""
    if n <= 0:
        return []
    w = [rng.lognormvariate(0, sigma) for _ in range(n)]
    sizes = [None] * n
    for _ in range(8):
        free = [i for i in range(n) if sizes[i] is None]
        if not free:
            break
        budget = max(0, total - sum(s for s in sizes if s is not None))
        sw = sum(w[i] for i in free)
        clamped = False
        for i in free:
            s = budget * w[i] / sw
            if s < lo or s > hi:
                sizes[i] = lo if s < lo else hi
                clamped = True
        if not clamped:
            for i in free:
                sizes[i] = int(budget * w[i] / sw)
            break
    return [int(min(hi, max(lo, s if s is not None else lo))) for s in sizes]


def build_plan(rng, total, nfiles):
    """List of (relpath, kind, size); kind is an extension or a large-file kind."""
    scale = total / GiB
    large = [("Supporting/Media/Exercise recording 2023-10-12.mp4", "video", int(rng.uniform(90, 120) * MiB * scale)),
             ("Contacts/Exports/All staff directory – full export.csv", "bigcsv", int(rng.uniform(60, 80) * MiB * scale)),
             ("DRP/Images/fileserver01 recovery image.img", "diskimg", int(rng.uniform(60, 75) * MiB * scale))]
    n_rest = max(0, nfiles - len(large) - len(EMPTY_FILES))
    n_small = round(n_rest * 0.25)
    n_doc = round((n_rest - n_small) * 0.6)
    n_text = n_rest - n_small - n_doc

    small_sizes = [rng.randint(64, 4000) for _ in range(n_small)]
    text_target = max(n_text * 4 * KiB, int(0.20 * total) - large[1][2] - sum(small_sizes))
    doc_target = max(n_doc * 8 * KiB, total - sum(s for _, _, s in large) - sum(small_sizes) - text_target)
    doc_sizes = spread(rng, n_doc, doc_target, 8 * KiB, min(24 * MiB, max(256 * KiB, doc_target // 10)), 1.3)
    text_sizes = spread(rng, n_text, text_target, 2 * KiB, min(8 * MiB, max(64 * KiB, text_target // 10)), 1.2)

    used = {p.lower() for p, _, _ in large} | {p.lower() for p in EMPTY_FILES}
    fixed = {k: list(v) for k, v in FIXED_NAMES.items()}
    plan = list(large) + [(p, "empty", 0) for p in EMPTY_FILES]

    def add(kinds, sizes):
        exts = list(kinds)
        weights = [kinds[e][0] for e in exts]
        for size in sizes:
            ext = rng.choices(exts, weights)[0]
            if fixed.get(ext):
                path = fixed[ext].pop(0)
            else:
                _, prefixes, templates = kinds[ext]
                d = rng.choice(_dirs_for(prefixes))
                base = _name(rng, rng.choice(templates))
                path, k = f"{d}/{base}{ext}", 1
                while path.lower() in used:
                    k += 1
                    path = f"{d}/{base} ({k}){ext}"
            used.add(path.lower())
            plan.append((path, ext, size))

    add(DOC_KINDS, doc_sizes)
    add(TEXT_KINDS, text_sizes)
    add(SMALL_KINDS, small_sizes)
    # The symlink target must exist whatever the mix; make it if the draw skipped it.
    target = os.path.normpath(os.path.join(os.path.dirname(SYMLINK[0]), SYMLINK[1]))
    if target.lower() not in used:
        plan.append((target, ".csv", 3 * KiB))
    return plan


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------


def write_entry(root, relpath, kind, size, rng):
    path = os.path.join(root, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        if kind == "video":
            write_video(f, rng, size)
        elif kind == "bigcsv":
            write_big_csv(f, rng, size)
        elif kind == "diskimg":
            write_disk_image(f, rng, size)
        elif kind != "empty":
            f.write(GENERATORS[kind](rng, size))
    return path


def category(kind):
    if kind in DOC_KINDS or kind == "video":
        return "compressed"
    if kind in TEXT_KINDS or kind in (".url", "bigcsv"):
        return "text"
    return "other"


def generate(root, size_mib, nfiles, seed):
    t0 = time.time()
    if os.path.exists(root) and os.listdir(root):
        sys.exit(f"error: {root} exists and is not empty (use --mutate to edit an existing tree)")
    rng = random.Random(seed)
    plan = build_plan(rng, int(size_mib * MiB), nfiles)
    bytes_by = {"compressed": 0, "text": 0, "other": 0}
    small = 0
    for relpath, kind, size in plan:
        frng = random.Random(f"{seed}:{relpath}")  # contents independent of generation order
        path = write_entry(root, relpath, kind, size, frng)
        real = os.path.getsize(path)
        bytes_by[category(kind)] += real
        small += 0 < real < 4 * KiB
        t = MTIME_BASE + frng.randrange(MTIME_SPAN)
        os.utime(path, (t, t))
    for d in DIRS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.makedirs(os.path.join(root, EMPTY_DIR), exist_ok=True)
    link = os.path.join(root, SYMLINK[0])
    os.symlink(SYMLINK[1], link)
    # Fixed mtimes for the symlink and every directory too, deepest first.
    t = MTIME_BASE + MTIME_SPAN
    os.utime(link, (t, t), follow_symlinks=False)
    for d, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count(os.sep)):
        os.utime(d, (t, t))
    total = sum(bytes_by.values())
    mix = ", ".join(f"{100 * v / max(1, total):.1f}% {k}" for k, v in bytes_by.items())
    print(f"generated {root}: {len(plan)} files ({small} under 4 KiB, {len(EMPTY_FILES)} empty), 1 symlink, "
          f"1 empty dir; {total} bytes ({total / MiB:.1f} MiB: {mix}) in {time.time() - t0:.1f}s")


def _walk(root):
    """Sorted regular files (relpath, size) and resolved symlink targets."""
    files, targets = [], set()
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                targets.add(os.path.relpath(os.path.realpath(p), os.path.realpath(root)))
            elif os.path.isfile(p):
                files.append((rel, os.path.getsize(p)))
    return files, targets


def insert_middle(path, data, text):
    """Insert data in the middle of a file, in place (same inode)."""
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        mid = size // 2
        if text:  # keep lines whole
            f.seek(mid)
            nl = f.read(4096).find(b"\n")
            mid += nl + 1 if nl >= 0 else 0
        f.seek(mid)
        tail = f.read()
        f.seek(mid)
        f.write(data)
        f.write(tail)


def mutate(root, seed):
    if not os.path.isdir(root):
        sys.exit(f"error: {root} is not a directory")
    rng = random.Random(f"mutate:{seed}")
    t_log = MTIME_BASE + MTIME_SPAN + rng.randrange(30 * 86400)  # timestamps in new log lines
    files, targets = _walk(root)
    nonempty = [f for f in files if f[1] > 0]
    if len(nonempty) < 4:
        sys.exit(f"error: {root} has too few files to mutate")
    n = max(4, round(len(files) * 0.01))
    largest = sorted(nonempty, key=lambda f: (-f[1], f[0]))[:2]
    rest = [f for f in nonempty if f not in largest]
    chosen = rng.sample(rest, min(len(rest), n - 2))
    touched = chosen[:max(1, len(chosen) // 4)]
    edited = chosen[len(touched):]
    stats = {"inserted": 0, "appended": 0, "resaved": 0}
    added_bytes = 0

    for rel, size in largest:
        ext = os.path.splitext(rel)[1].lower()
        data = (log_lines(rng, rng.randint(2, 8) * KiB, t_log).encode() if ext in TEXT_EXTS
                else rbytes(rng, rng.randint(2, 8) * KiB))
        insert_middle(os.path.join(root, rel), data, ext in TEXT_EXTS)
        stats["inserted"] += 1
        added_bytes += len(data)

    for rel, size in edited:
        path = os.path.join(root, rel)
        ext = os.path.splitext(rel)[1].lower()
        if ext in (".log", ".txt", ".md", ".csv"):  # text: append a few KiB
            extra = (log_lines(rng, rng.randint(1, 6) * KiB, t_log) if ext in (".log", ".txt")
                     else csv_rows(rng, rng.randint(5, 40), start=size) if ext == ".csv"
                     else f"\n## Update {day(rng)}\n\n{prose(rng, rng.randint(1, 6) * KiB)}\n")
            with open(path, "ab") as f:
                f.write(extra.encode())
            stats["appended"] += 1
            added_bytes += len(extra.encode())
        elif ext in GENERATORS:  # documents are rewritten whole when re-saved
            new_size = max(KiB, size + rng.randint(-4, 8) * KiB)
            with open(path, "wb") as f:
                f.write(GENERATORS[ext](rng, new_size))
            stats["resaved"] += 1
            added_bytes += new_size - size
        else:
            extra = rbytes(rng, rng.randint(1, 6) * KiB)
            with open(path, "ab") as f:
                f.write(extra)
            stats["appended"] += 1
            added_bytes += len(extra)

    now = time.time()
    for rel, _ in touched:
        os.utime(os.path.join(root, rel), (now, now))

    # Two new files and one deleted small file (never a symlink target).
    new = [(f"Runbooks/Cyber Incident/Incident log {seed}.md", ".md", rng.randint(3, 12) * KiB),
           (f"Supporting/Scans/2024/Scan {seed}.pdf", ".pdf", rng.randint(200, 1000) * KiB)]
    for rel, ext, size in new:
        write_entry(root, rel, ext, size, rng)
        added_bytes += size
    picked = {r for r, _ in largest + chosen}
    deletable = [f for f in rest if f[0] not in picked and f[0] not in targets and f[1] < 64 * KiB]
    deleted = rng.choice(deletable) if deletable else None
    if deleted:
        os.remove(os.path.join(root, deleted[0]))
        added_bytes -= deleted[1]

    print(f"mutated {root}: {stats['inserted']} mid-file inserts, {stats['appended']} appends, "
          f"{stats['resaved']} re-saved documents, {len(touched)} touched, {len(new)} added, "
          f"{1 if deleted else 0} deleted; net {added_bytes:+d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--size-mib", type=float, default=1024, help="total size in MiB (default 1024)")
    ap.add_argument("--files", type=int, default=5000, help="number of regular files (default 5000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--mutate", action="store_true", help="edit ~1%% of an existing tree in place")
    a = ap.parse_args()
    if a.mutate:
        mutate(a.outdir, a.seed)
    else:
        if a.size_mib <= 0 or a.files < 10:
            ap.error("--size-mib must be > 0 and --files at least 10")
        generate(a.outdir, a.size_mib, a.files, a.seed)


if __name__ == "__main__":
    main()
