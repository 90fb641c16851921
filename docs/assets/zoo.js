// The zoo page's table, sortable by any column and filtered by name, family and weight source, so
// that it stays usable as the registry grows. The page stays plain markdown: this script reads the
// columns by their headers and fills the empty <div class="zoo-filter"> that docs/zoo.md puts above
// the table. The filter's state lives in the URL (zoo.html?q=resnext&family=resnext&source=timm), so a
// filtered view can be linked to.
(() => {
  "use strict";

  const number = (text) => {
    const value = parseFloat(text.replace(/,/g, ""));
    return Number.isNaN(value) ? null : value;
  };

  // The weight source of a row: its weights cell names it once, before the tags ("timm: `a1_in1k`, ...").
  const sources = (cell) => (cell.textContent.includes(":") ? [cell.textContent.split(":")[0].trim()] : []);

  const select = (label, values) => {
    const box = document.createElement("select");
    box.setAttribute("aria-label", label);
    box.append(new Option(`any ${label}`, ""));
    [...new Set(values)].sort().forEach((v) => box.append(new Option(v, v)));
    return box;
  };

  const setUp = (holder) => {
    const table = [...document.querySelectorAll(".md-content table")].find(
      (t) => holder.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING);
    if (!table) return;
    const headers = [...table.tHead.rows[0].cells];
    const column = (name) => headers.findIndex((th) => th.textContent.trim() === name);
    const [nameAt, familyAt, weightsAt] = ["name", "family", "weights"].map(column);
    const body = table.tBodies[0];
    const rows = [...body.rows];

    const query = document.createElement("input");
    query.type = "search";
    query.placeholder = "filter by name";
    query.setAttribute("aria-label", "filter by name");
    const family = select("family", rows.map((r) => r.cells[familyAt].textContent.trim()));
    const source = select("source", rows.flatMap((r) => sources(r.cells[weightsAt])));
    const count = document.createElement("span");
    count.className = "zoo-count";
    holder.append(query, family, source, count);

    const params = new URLSearchParams(location.search);
    query.value = params.get("q") || "";
    family.value = params.get("family") || "";
    source.value = params.get("source") || "";

    const filter = () => {
      const words = query.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of rows) {
        const name = row.cells[nameAt].textContent.toLowerCase();
        const keep = words.every((w) => name.includes(w))
          && (!family.value || row.cells[familyAt].textContent.trim() === family.value)
          && (!source.value || sources(row.cells[weightsAt]).includes(source.value));
        row.hidden = !keep;
        shown += keep;
      }
      count.textContent = `${shown} of ${rows.length} entries`;
      const state = new URLSearchParams();
      if (query.value) state.set("q", query.value);
      if (family.value) state.set("family", family.value);
      if (source.value) state.set("source", source.value);
      const search = state.toString();
      history.replaceState(null, "", (search ? `?${search}` : location.pathname) + location.hash);
    };
    [query, family, source].forEach((box) => box.addEventListener("input", filter));
    filter();

    // Sorting: numbers as numbers (empty cells last, whichever the direction), the rest as text.
    const sortBy = (th) => {
      const at = headers.indexOf(th);
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const key = (row) => row.cells[at].textContent.trim();
      const numeric = rows.every((r) => key(r) === "" || number(key(r)) !== null);
      const sign = ascending ? 1 : -1;
      rows.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        if (x === "" || y === "") return (x === "") - (y === "");
        return sign * (numeric ? number(x) - number(y) : x.localeCompare(y, undefined, { numeric: true }));
      });
      body.append(...rows);
    };
    table.dataset.sortable = "";
    for (const th of headers) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", () => sortBy(th));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy(th);
        }
      });
    }
  };

  const start = () => document.querySelectorAll(".zoo-filter").forEach(setUp);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
