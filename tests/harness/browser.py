"""Headless Chromium check of a report page: does it render, do its images
load, do its flame graphs draw?  A copy of the page with a small script is written beside it (so that
relative image paths resolve the same way), loaded with --dump-dom, and the
script's verdict read back from the DOM."""
import json
import os
import re
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

_SCRIPT = """<script>
window.addEventListener('load', function () {
  var r = Array.prototype.map.call(document.images, function (i) {
    return [i.getAttribute('src'), i.complete, i.naturalWidth,
            i.naturalHeight];
  });
  var pre = document.createElement('pre');
  pre.id = 'tcpscale-imgcheck';
  var flames = Array.prototype.map.call(
    document.querySelectorAll('div.tcps-flame'), function (d) {
      return [d.id, d.querySelectorAll('svg rect').length];
    });
  pre.textContent = 'IMGCHECK' + JSON.stringify({images: r,
    title: document.title, tables: document.querySelectorAll('table').length,
    flames: flames, text: document.body.innerText.length}) + 'END';
  document.body.appendChild(pre);
});
</script>"""


def available():
    return os.access(CHROMIUM, os.X_OK)


def _flags(profile_dir):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage",
            f"--user-data-dir={profile_dir}"]


def check_page(html_path, timeout=90):
    """{"images": [[src, complete, w, h], ...], "title", "tables",
    "flames": [[id, rectangles drawn], ...], "text"}."""
    html_path = os.path.abspath(html_path)
    with open(html_path) as f:
        page = f.read()
    probe = os.path.join(os.path.dirname(html_path),
                         ".imgcheck-" + os.path.basename(html_path))
    with open(probe, "w") as f:
        f.write(page.replace("</body>", _SCRIPT + "</body>"))
    try:
        with tempfile.TemporaryDirectory(prefix="tcpscale-chromium-") as prof:
            p = subprocess.run(
                _flags(prof) + ["--virtual-time-budget=5000", "--dump-dom",
                                "file://" + probe],
                capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(probe)
    m = re.search(r"<pre id=\"tcpscale-imgcheck\">IMGCHECK(.*?)END</pre>",
                  p.stdout, re.S)
    if not m:
        raise AssertionError(f"chromium did not render {html_path} "
                             f"(exit {p.returncode}): {p.stderr[-2000:]}")
    import html as htmlmod
    return json.loads(htmlmod.unescape(m.group(1)))


def broken_images(result):
    return [i[0] for i in result["images"] if not i[1] or i[2] <= 0]


def screenshot(html_path, png_path, size="1200,2400", timeout=90):
    with tempfile.TemporaryDirectory(prefix="tcpscale-chromium-") as prof:
        subprocess.run(_flags(prof) + [f"--screenshot={png_path}",
                                       f"--window-size={size}",
                                       "--hide-scrollbars",
                                       "file://" + os.path.abspath(html_path)],
                       capture_output=True, timeout=timeout)
    return os.path.exists(png_path)
