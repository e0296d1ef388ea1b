"""The static leaderboard site: its HTML read without a browser (sortable tables, reasons in
tooltips and footnotes, winner and Δ markers, links to every record, per-class view,
curves), and the site opened in headless Chromium as a person would, from disk and served
alone by a static server (tables and figures shown, record links resolve, no console
error; screenshots in a temporary folder, never committed)."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest

from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import iter_records
from neuronbench.reports.aggregate import RUNNER_UP, VERSUS, aggregate, seed_values
from neuronbench.reports.build import build_leaderboard
from tests.browser import Browser, find_chromium
from tests.test_leaderboard import CLASSES, DATASET, NA_REASON, SEEDS, SETTINGS, TASK, make_record, save, write_results

FAILED_REASON = "CUDA out of memory <allocating 2 GiB> & gave up"
FRACTIONS = (0.1, 0.5)


# ---------------------------------------------------------------- a tiny DOM

class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children, self.texts = tag, attrs, parent, [], []

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        out = []
        for child in self.children:
            if child.tag == tag and all(v in (child.attrs.get(k.rstrip("_")) or "").split() for k, v in attrs.items()):
                out.append(child)
            out += child.find_all(tag, **attrs)
        return out


class _Builder(HTMLParser):
    VOID = {"meta", "link", "img", "br", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.node)
        self.node.children.append(node)
        if tag not in self.VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node.tag != tag and node.parent is not None:
            node = node.parent
        assert node.tag == tag, f"unmatched </{tag}>"
        self.node = node.parent

    def handle_data(self, data):
        self.node.texts.append(data)


def parse(path: Path) -> Node:
    builder = _Builder()
    builder.feed(path.read_text(encoding="utf-8"))
    assert builder.node is builder.root, "unclosed elements"
    return builder.root


# ---------------------------------------------------------------- the site of a toy results folder

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The toy results of `tests.test_leaderboard` plus a failed preset column (its reason
    needs escaping) and curve records: label fractions for nuclr and neuprint in the
    transductive setting, 1 and 2 pretraining animals for nuclr (inductive)."""
    root = write_results(tmp_path_factory.mktemp("site") / "results")
    save(root, make_record("nuclr", "transductive", 0, 0, status="failed", reason=FAILED_REASON, preset="paper",
                           config_hash="eeee11112222"))
    for seed in SEEDS:
        for fraction in FRACTIONS:
            for method in ("nuclr", "neuprint"):
                save(root, make_record(method, "transductive", 0, seed, label_fraction=fraction))
        for animals in (1, 2):
            for fold in range(SETTINGS["inductive"]):
                save(root, make_record("nuclr", "inductive", fold, seed, pretrain_animals=animals))
    out = root.parent / "leaderboards"
    build_leaderboard(root, out)
    return root, out


def headline_table(page: Node) -> Node:
    return page.find_all("table", class_="sortable")[0]


def test_headline_table_is_sortable_with_every_cell(built) -> None:
    root, out = built
    page = parse(out / "site" / f"{DATASET}.html")
    table = headline_table(page)
    heads = table.find_all("th")
    assert heads and all(th.find_all("button") for th in heads)  # every column sorts
    names = [th.text().strip() for th in heads]
    assert names[:4] == ["Task", "Classes", "Setting", "Chance: uniform / majority"]
    assert names[4:] == ["nuclr", "nuclr [paper]", "neuprint", "random", "Winner", "Winner − runner-up",
                         "Δ vs best baseline", "Δ vs best control"]
    assert [th.attrs.get("class") for th in heads[4:8]] == ["k-method", "k-method", "k-baseline", "k-control"]
    assert all(th.attrs.get("data-type") == "num" for i, th in enumerate(heads[4:], start=4) if names[i] != "Winner")
    rows = table.find_all("tbody")[0].find_all("tr")
    assert [r.find_all("td")[2].text() for r in rows] == list(SETTINGS)
    # each number's sort key is the cell's mean; the row's best cell is marked
    df = aggregate(r for r in iter_records(root) if r[1].is_headline)
    for row in rows:
        setting = row.find_all("td")[2].text()
        cells = dict(zip(names, row.find_all("td")))
        sub = df[(df["setting"] == setting) & (df["probe"] == "linear") & (df["metric"] == "macro_f1")
                 & (df["preset"] == "cpu") & (df["status"] == "ok")]
        for r in sub.itertuples():
            assert float(cells[r.method].attrs["data-sort"]) == pytest.approx(r.mean, abs=1e-6)
        best = sub.loc[sub["mean"].idxmax(), "method"]
        assert [n for n in names if "best" in (cells[n].attrs.get("class") or "").split()] == [best]
        assert cells["Winner"].text() == best


def test_reasons_are_in_a_tooltip_and_a_footnote_escaped(built) -> None:
    _, out = built
    html = (out / "site" / f"{DATASET}.html").read_text(encoding="utf-8")
    assert "<allocating" not in html and "&lt;allocating 2 GiB&gt; &amp; gave up" in html
    table = headline_table(parse(out / "site" / f"{DATASET}.html"))
    by_reason = {td.attrs["title"]: td for td in table.find_all("td", class_="none") if td.attrs.get("title")}
    assert set(by_reason) >= {NA_REASON, FAILED_REASON}
    page = parse(out / "site" / f"{DATASET}.html")
    notes = {li.attrs["id"]: li.text() for li in page.find_all("li") if li.attrs.get("id", "").startswith("fn-0-")}
    for reason, text in ((NA_REASON, "N/A"), (FAILED_REASON, "failed")):
        td = by_reason[reason]
        assert td.text().startswith(text)
        (link,) = td.find_all("a")
        assert notes[link.attrs["href"].lstrip("#")] == reason
    # the preset that ran in one setting only is "not run" in the other, not blank
    assert any(td.text() == "not run" for td in table.find_all("td"))


def test_delta_cells_mark_significance_as_the_paired_csv(built) -> None:
    _, out = built
    paired = pd.read_csv(out / f"{DATASET}-paired.csv")
    paired = paired[(paired["probe"] == "linear") & (paired["metric"] == "macro_f1")
                    & paired["versus"].isin((RUNNER_UP, *VERSUS))]
    assert len(paired) > 0 and RUNNER_UP in set(paired["versus"])
    column = {RUNNER_UP: -3, VERSUS[0]: -2, VERSUS[1]: -1}
    rows = headline_table(parse(out / "site" / f"{DATASET}.html")).find_all("tbody")[0].find_all("tr")
    seen = 0
    for row in rows:
        cells = row.find_all("td")
        for p in paired[paired["setting"] == cells[2].text()].itertuples():
            td = cells[column[p.versus]]
            assert float(td.attrs["data-sort"]) == pytest.approx(p.diff, abs=1e-6)
            expected = ("up" if p.diff > 0 else "down") if p.significant else "ns"
            assert expected in td.attrs["class"].split()
            assert ("n.s." in td.text()) == (not p.significant)
            assert f"{p.method} − {p.other}" in td.text()
            seen += 1
    assert seen == len(paired)


def test_every_record_is_linked_and_every_link_resolves(built) -> None:
    root, out = built
    page = parse(out / "site" / f"{DATASET}.html")
    hrefs = [a.attrs["href"] for span in page.find_all("span", class_="records") for a in span.find_all("a")]
    # the links stay inside the site: rows of its record index, which names each record's file
    index = parse(out / "site" / f"records-{DATASET}.html")
    rows = {tr.attrs["id"]: tr for tr in index.find_all("tr") if tr.attrs.get("id")}
    assert all(h.startswith(f"records-{DATASET}.html#") for h in hrefs)
    linked = [rows[h.split("#")[1]].find_all("code")[0].text() for h in hrefs]
    headline = {p.relative_to(root).as_posix(): p for p, r in iter_records(root) if r.is_headline}
    assert sorted(linked) == sorted(headline)  # each headline record once, curve points are not cells
    for h in hrefs:  # the index row holds the SHA-256 of the record's file
        path = headline[rows[h.split("#")[1]].find_all("code")[0].text()]
        assert hashlib.sha256(path.read_bytes()).hexdigest() in rows[h.split("#")[1]].text()
    # every number links to its row in the per-class view
    ids = {tr.attrs.get("id") for tr in page.find_all("tr")}
    anchors = [a.attrs["href"] for a in headline_table(page).find_all("a") if a.attrs["href"].startswith("#c-")]
    assert anchors and all(a[1:] in ids for a in anchors)
    # every image, figure link and file link of both pages exists
    site = (out / "site").resolve()
    for name in ("index.html", f"{DATASET}.html", f"records-{DATASET}.html"):
        doc = parse(out / "site" / name)
        targets = [i.attrs["src"] for i in doc.find_all("img")]
        targets += [a.attrs["href"].split("#")[0] for a in doc.find_all("a") if not a.attrs["href"].startswith("#")]
        files = [(site / unquote(t)).resolve() for t in targets]
        assert targets and all(f.is_file() and f.is_relative_to(site) for f in files), targets


def test_a_records_url_makes_record_links_point_there(built, tmp_path: Path) -> None:
    root, _ = built
    out = build_leaderboard(root, tmp_path / "lb", records_url="https://example.org/repo/results/")[0].parent
    page = parse(out / "site" / f"{DATASET}.html")
    hrefs = [a.attrs["href"] for span in page.find_all("span", class_="records") for a in span.find_all("a")]
    headline = sorted(p.relative_to(root).as_posix() for p, r in iter_records(root) if r.is_headline)
    assert sorted(unquote(h) for h in hrefs) == [f"https://example.org/repo/results/{p}" for p in headline]


def test_site_files_are_generated_files_in_the_manifest(built) -> None:
    _, out = built
    manifest = json.loads((out / "leaderboard-manifest.json").read_text())["files"]
    site = sorted(p.relative_to(out).as_posix() for p in (out / "site").iterdir())
    assert site and set(site) <= set(manifest)
    assert "site/index.html" in (out / "README.md").read_text()


def test_per_class_view_is_the_best_seeds_pooled_predictions(built) -> None:
    root, out = built
    table = pd.read_csv(out / f"{DATASET}-per-class.csv")
    cell = table[(table["method"] == "nuclr") & (table["setting"] == "inductive") & (table["preset"] == "cpu")]
    scores = {}
    pooled = {}
    for seed in SEEDS:
        records = [make_record("nuclr", "inductive", fold, seed) for fold in range(SETTINGS["inductive"])]
        y_true = [y for r in records for y in r.y_true["label"]]
        runs = [[y for r in records for y in r.probes["linear"][i]["y_pred"]] for i in range(2)]
        metrics = [classification_metrics(y_true, y, CLASSES) for y in runs]
        scores[seed] = np.mean([m["macro_f1"] for m in metrics])
        pooled[seed] = metrics
    best = max(SEEDS, key=lambda s: scores[s])
    assert set(cell["encoder_seed"]) == {best}
    assert cell["seed_macro_f1"].iloc[0] == pytest.approx(scores[best], abs=1e-6)
    assert list(cell["class"]) == CLASSES
    confusion = np.mean([m["confusion_matrix"] for m in pooled[best]], axis=0)
    for row, c in zip(cell.itertuples(), CLASSES):
        assert row.f1 == pytest.approx(np.mean([m["per_class_f1"][c] for m in pooled[best]]), abs=1e-6)
        assert [float(v) for v in row.predicted_counts.split()] == pytest.approx(list(confusion[CLASSES.index(c)]))
        assert row.n_true == confusion[CLASSES.index(c)].sum()
    # the N/A cell has no per-class rows but its record is linked from the per-class table
    assert table[(table["method"] == "neuprint") & (table["setting"] == "inductive")].empty
    assert (out / "site" / f"{DATASET}-linear-confusion-{TASK}.png").read_bytes().startswith(b"\x89PNG")


def test_curves_end_at_the_headline_and_pool_folds_like_it(built) -> None:
    root, out = built
    curves = pd.read_csv(out / f"{DATASET}-curves.csv", keep_default_na=False)
    f1 = curves[curves["metric"] == "macro_f1"]
    df = aggregate(r for r in iter_records(root) if r[1].is_headline)
    label = f1[f1["curve"] == "label_efficiency"]
    assert set(label["method"]) == {"nuclr", "neuprint"} and set(label["setting"]) == {"transductive"}
    for method in ("nuclr", "neuprint"):
        line = label[label["method"] == method]
        assert list(line["label_fraction"]) == [*FRACTIONS, 1.0]
        head = df[(df["method"] == method) & (df["setting"] == "transductive") & (df["probe"] == "linear")
                  & (df["metric"] == "macro_f1") & (df["preset"] == "cpu")].iloc[0]
        assert line.iloc[-1]["mean"] == pytest.approx(head["mean"], abs=1e-6)  # the 100 % point is the headline
        assert line.iloc[-1]["pretrain_animals"] == "all"
    # a point of the curve: per seed, predictions pooled over folds, then mean over seeds
    scale = f1[(f1["curve"] == "pretraining_scale") & (f1["method"] == "nuclr")]
    assert list(scale["pretrain_animals"]) == ["1", "2", "all"] and set(scale["setting"]) == {"inductive"}
    point = scale.iloc[0]
    per_seed = []
    for seed in SEEDS:
        records = [make_record("nuclr", "inductive", fold, seed, pretrain_animals=1) for fold in range(3)]
        y_true = [y for r in records for y in r.y_true["label"]]
        per_seed.append(np.mean([classification_metrics(y_true, [y for r in records for y in r.probes["linear"][i]
                                                                 ["y_pred"]], CLASSES)["macro_f1"] for i in range(2)]))
    assert point["mean"] == pytest.approx(np.mean(per_seed), abs=1e-6)
    assert point["std"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-6)
    assert [v for _, v in seed_values(point["seed_scores"])] == pytest.approx(per_seed, abs=1e-6)
    assert point["n_pretrain_recordings"] == ""  # the toy records do not say
    page = parse(out / "site" / f"{DATASET}.html")
    assert page.find_all("h2", id="curves")
    images = [i.attrs["src"] for i in page.find_all("img")]
    assert f"{DATASET}-linear-label-efficiency.png" in images and f"{DATASET}-linear-pretraining-scale.png" in images


def test_curve_figure_has_a_legend_off_the_panels_and_a_log_axis(built) -> None:
    from neuronbench.reports.aggregate import method_columns, row_keys
    from neuronbench.reports.figures import curve_figure

    root, out = built
    df = aggregate(r for r in iter_records(root) if r[1].is_headline)
    curves = pd.read_csv(out / f"{DATASET}-curves.csv", keep_default_na=False)
    curves["pretrain_animals"] = curves["pretrain_animals"].map(lambda v: v if v == "all" else int(v))
    label = curves[curves["curve"] == "label_efficiency"]
    fig = curve_figure(curves, df, DATASET, "linear", "label_efficiency", method_columns(df), row_keys(label))
    fig.canvas.draw()
    (ax,) = fig.axes
    (legend,) = fig.legends
    assert not legend.get_window_extent().overlaps(ax.get_tightbbox(fig.canvas.get_renderer()))
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["nuclr (method)", "neuprint (baseline)"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["nuclr (method)"].get_xdata()) == [*FRACTIONS, 1.0]


def test_confusion_figure_has_a_panel_per_setting_and_column(built) -> None:
    from neuronbench.reports.aggregate import method_columns
    from neuronbench.reports.figures import confusion_figure

    root, out = built
    df = aggregate(r for r in iter_records(root) if r[1].is_headline)
    per_class = pd.read_csv(out / f"{DATASET}-per-class.csv")
    columns = method_columns(df)
    fig = confusion_figure(per_class, DATASET, "linear", TASK, CLASSES, list(SETTINGS), columns)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == len(SETTINGS) * len(columns)
    inductive = panels[len(columns):]
    empty = [ax.get_title() for ax in inductive if [t.get_text() for t in ax.texts] == ["no numbers"]]
    assert empty == ["nuclr [paper]", "neuprint"]  # not run, N/A
    nuclr = inductive[0]
    best = per_class[(per_class["method"] == "nuclr") & (per_class["setting"] == "inductive")
                     & (per_class["preset"] == "cpu")]
    assert nuclr.get_title() == f"nuclr\nseed {best['encoder_seed'].iloc[0]}: {best['seed_macro_f1'].iloc[0]:.3f}"
    counts = np.array([[float(v) for v in row.split()] for row in best["predicted_counts"]])
    shares = [int(t.get_text()) for t in nuclr.texts]
    assert shares == [round(100 * v) for v in (counts / counts.sum(axis=1, keepdims=True)).ravel()]


def test_index_lists_every_dataset_with_who_wins(built) -> None:
    _, out = built
    index = parse(out / "site" / "index.html")
    links = [a.attrs["href"] for h2 in index.find_all("h2") for a in h2.find_all("a")]
    assert links == [f"{DATASET}.html"]
    rows = index.find_all("tbody")[0].find_all("tr")
    assert [r.find_all("td")[1].text() for r in rows] == list(SETTINGS)
    assert all("nuclr" in r.find_all("td")[4].text() for r in rows)  # the best of kind "method"


# ---------------------------------------------------------------- in a browser

@pytest.mark.skipif(find_chromium() is None, reason="no Chromium binary on PATH (Debian: apt-get install chromium); "
                                                   "the site is then checked without a browser only")
def test_the_site_in_headless_chromium(built, tmp_path: Path) -> None:
    _, out = built
    with Browser(find_chromium()) as browser:
        for name in ("index.html", f"{DATASET}.html"):
            browser.open((out / "site" / name).as_uri())
            seen = browser.evaluate("""({
                tables: document.querySelectorAll("table").length,
                rows: document.querySelectorAll("table tbody tr").length,
                images: Array.from(document.images).map(i => [i.getAttribute("src"), i.complete, i.naturalWidth]),
                width: document.documentElement.scrollWidth
            })""")
            assert seen["tables"] >= 1 and seen["rows"] >= 2, (name, seen)
            assert all(complete and width > 0 for _, complete, width in seen["images"]), seen["images"]
            shot = tmp_path / f"{name}.png"
            browser.screenshot(shot)
            assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
        assert len(seen["images"]) >= 4  # bars, confusion matrices, two curves
        # clicking a method column's header sorts the rows by it, highest first, then lowest first
        order = browser.evaluate("""(() => {
            const table = document.querySelector("table.sortable");
            const col = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent.trim() === "nuclr");
            const values = () => Array.from(table.tBodies[0].rows, r => parseFloat(r.cells[col].dataset.sort));
            table.tHead.rows[0].cells[col].querySelector("button").click();
            const first = values();
            table.tHead.rows[0].cells[col].querySelector("button").click();
            return [first, values(), table.tHead.rows[0].cells[col].getAttribute("aria-sort")];
        })()""")
        first, second, state = order
        assert first == sorted(first, reverse=True) and second == sorted(second) and first != second
        assert state == "ascending"
        assert browser.errors == []


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log in the test output
        pass


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium binary on PATH (Debian: apt-get install chromium)")
def test_the_site_folder_served_alone_shows_every_figure_and_resolves_record_links(built, tmp_path: Path) -> None:
    """As a static host would serve it: a copy of ``site/`` alone as the server's root."""
    _, out = built
    alone = tmp_path / "public"
    shutil.copytree(out / "site", alone)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(alone)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Browser(find_chromium()) as browser:
            images = 0
            for name in ("index.html", f"{DATASET}.html", f"records-{DATASET}.html"):
                browser.open(f"{base}/{name}")
                seen = browser.evaluate("Array.from(document.images, i => [i.getAttribute('src'), i.naturalWidth])")
                assert all(width > 0 for _, width in seen), (name, seen)
                images += len(seen)
            assert images >= 4  # bars, confusion matrices, two curves
            browser.open(f"{base}/{DATASET}.html")
            links = browser.evaluate("""Promise.all(Array.from(document.querySelectorAll("a[href]"))
                .filter(a => !a.getAttribute("href").startsWith("#"))
                .map(a => fetch(a.href).then(r => r.text().then(text => [a.getAttribute("href"), r.status,
                    !a.hash || text.includes('id="' + decodeURIComponent(a.hash.slice(1)) + '"')]))))""")
            records = [link for link in links if link[0].startswith(f"records-{DATASET}.html#")]
            assert records and all(status == 200 and found for _, status, found in links), links
            assert browser.errors == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_delta_says_when_fewer_seeds_were_shared() -> None:
    from neuronbench.reports.site import _delta_cell

    row = pd.DataFrame([{"method": "a", "preset": "cpu", "n_seeds": 3}, {"method": "b", "preset": "cpu", "n_seeds": 2}])
    pair = pd.DataFrame([{"method": "a", "preset": "cpu", "other": "b", "other_preset": "cpu", "versus": "baseline",
                          "diff": 0.1, "ci_low": 0.05, "ci_high": 0.15, "n_seeds": 2, "significant": True}])
    html = _delta_cell(pair, row)
    assert "(2 shared seeds)" in html and 'class="delta up"' in html and "a − b" in html
    assert "shared seeds)" not in _delta_cell(pair.assign(n_seeds=3), row.assign(n_seeds=3))
    assert 'class="delta ns"' in _delta_cell(pair.assign(significant=False, ci_low=-0.01), row)
