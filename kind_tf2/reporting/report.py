"""A report written twice from one list of blocks: `report.md` (linked PNGs) and a self-contained `report.html`."""

import base64
import html
import os
import platform

from kind_tf2 import files
from kind_tf2.reporting.tables import Table


def versions():
    """Versions a result depends on: the package, TensorFlow, Keras, numpy, Python, the machine."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kind_tf2

    return {"kind_tf2": kind_tf2.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "oneDNN": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default")}


class Report:
    """Headings, paragraphs, tables, images and code blocks, in order.

    root: the folder the report files go to; image paths are stored relative to it in the
    Markdown and embedded (base64) in the HTML, so the HTML can be mailed on its own.
    """

    def __init__(self, title, root):
        self.title, self.root, self.blocks = title, root, []

    def heading(self, text, level=2):
        self.blocks.append(("h", level, text))

    def text(self, text):
        self.blocks.append(("p", text))

    def table(self, table):
        """A `reporting.tables.Table`, written by it (Markdown) and as an HTML table of the same cells."""
        if not isinstance(table, Table):
            raise TypeError(f"Report.table takes a reporting.tables.Table, not {type(table).__name__}")
        self.blocks.append(("table", table))

    def image(self, path, caption):
        self.blocks.append(("img", path, caption))

    def code(self, text):
        self.blocks.append(("pre", text))

    # ---- renderers ---------------------------------------------------------------------------

    def markdown(self):
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                lines += ["#" * block[1] + " " + block[2], ""]
            elif kind == "p":
                lines += [block[1], ""]
            elif kind == "table":
                lines += [block[1].markdown(), ""]
            elif kind == "img":
                rel = os.path.relpath(block[1], self.root).replace(os.sep, "/")
                lines += [f"![{block[2]}]({rel})", "", f"*{block[2]}*", ""]
            elif kind == "pre":
                lines += ["```", block[1], "```", ""]
        return "\n".join(lines)

    def html(self):
        e = html.escape
        parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
                 "table{border-collapse:collapse;margin:0.5em 0 1.2em}td,th{border:1px solid #bbb;padding:3px 8px;"
                 "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#eee}"
                 "img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:90%}"
                 "pre{background:#f6f6f6;padding:0.6em;overflow-x:auto;font-size:85%}</style>",
                 "</head><body>", f"<h1>{e(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
            elif kind == "p":
                parts.append(f"<p>{e(block[1])}</p>")
            elif kind == "table":
                parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in block[1].header) + "</tr>")
                parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in block[1].cells()]
                parts.append("</table>")
            elif kind == "img":
                with open(block[1], "rb") as f:
                    data = base64.b64encode(f.read()).decode("ascii")
                mime = "image/jpeg" if block[1].lower().endswith((".jpg", ".jpeg")) else "image/png"
                parts.append(f"<figure><img src='data:{mime};base64,{data}' alt='{e(block[2])}'>"
                             f"<figcaption>{e(block[2])}</figcaption></figure>")
            elif kind == "pre":
                parts.append(f"<pre>{e(block[1])}</pre>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, stem="report"):
        """Write `<root>/<stem>.md` and `<root>/<stem>.html`; returns both paths."""
        md, page = os.path.join(self.root, stem + ".md"), os.path.join(self.root, stem + ".html")
        files.atomic_write_text(md, self.markdown() + "\n")
        files.atomic_write_text(page, self.html() + "\n")
        return md, page
