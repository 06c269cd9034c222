"""Interactive flame graphs in the HTML report: d3-flame-graph (npm, pinned
in package.json / package-lock.json, installed by `make deps`), its files
copied into the run's assets/ so the report opens from disk, offline.

Each graph's tree (harness.folded.tree) is embedded in the page as JSON;
a click zooms into a frame, the search box highlights matching frames.
"""
import html
import json
import os
import shutil

from . import REPO_ROOT

NODE_MODULES = os.path.join(REPO_ROOT, "node_modules")
# (file in node_modules, name in assets/), in load order
ASSETS = (("d3/dist/d3.min.js", "d3.min.js"),
          ("d3-flame-graph/dist/d3-flamegraph.umd.min.js", "d3-flamegraph.min.js"),
          ("d3-flame-graph/dist/d3-flamegraph.css", "d3-flamegraph.css"))
WIDTH = 520


def available(node_modules=NODE_MODULES):
    return all(os.path.exists(os.path.join(node_modules, src)) for src, _ in ASSETS)


def copy_assets(run_dir, node_modules=NODE_MODULES):
    """Copy the viewer into run_dir/assets; returns the names copied."""
    out = os.path.join(run_dir, "assets")
    os.makedirs(out, exist_ok=True)
    for src, dst in ASSETS:
        shutil.copyfile(os.path.join(node_modules, src), os.path.join(out, dst))
    return [dst for _, dst in ASSETS]


def head_html():
    return [f'<link rel="stylesheet" href="assets/{ASSETS[2][1]}">'] + [
        f'<script src="assets/{dst}"></script>' for _, dst in ASSETS[:2]]


_DRAW = """<script>
(function () {
  document.querySelectorAll('div.tcps-flame').forEach(function (div) {
    var data = JSON.parse(document.getElementById(div.id + '-data').textContent);
    var chart = flamegraph.default().width(%d).cellHeight(16)
      .transitionDuration(0).minFrameSize(1).sort(true)
      .title('').selfValue(false);
    d3.select(div).datum(data).call(chart);
    var box = document.getElementById(div.id + '-search');
    if (box) box.addEventListener('input', function () {
      if (box.value) chart.search(box.value); else chart.clear();
    });
  });
})();
</script>""" % WIDTH


def flames_html(items, viewer_ok=True):
    """Side-by-side flame graphs.  items: [{"id", "title", "note", "tree",
    "links": [(text, href)]}]."""
    out = ['<div class="tcps-flames" style="display:flex;flex-wrap:wrap;gap:1em">']
    for it in items:
        links = " ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>'
                         for t, h in it.get("links", []))
        out.append(f'<div style="width:{WIDTH + 10}px"><h4>{html.escape(it["title"])}</h4>'
                   f'<p>{html.escape(it.get("note", ""))} {links}</p>')
        if it.get("tree") and viewer_ok:
            data = json.dumps(it["tree"], separators=(",", ":")).replace("</", "<\\/")
            out.append(f'<input id="{it["id"]}-search" placeholder="search frames" '
                       f'size="30"><div class="tcps-flame" id="{it["id"]}"></div>'
                       f'<script type="application/json" id="{it["id"]}-data">{data}</script>')
        elif it.get("tree"):
            out.append("<p>Flame graph viewer not installed (run <code>make deps</code>: "
                       "npm ci installs d3-flame-graph); the folded stacks are linked.</p>")
        else:
            out.append("<p>No stacks recorded.</p>")
        out.append("</div>")
    out.append("</div>")
    return out


def draw_script():
    return [_DRAW]
