// The regions table: sort by any column (numbers high to low first), search by
// name, 25 rows a page. Starts sorted by its last column, high to low.
(function () {
  "use strict";
  var table = document.getElementById("region-stats");
  if (!table) {
    return;
  }
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var rows = Array.prototype.slice.call(body.rows);
  var pageSize = Number(table.dataset.pageSize) || 25;
  var search = document.getElementById("region-search");
  var pager = document.getElementById("region-pager");
  var sortColumn = Number(table.dataset.sortColumn) || 0;
  var descending = sortColumn !== 0;
  var page = 0;

  function key(row, column) {
    var cell = row.cells[column];
    return cell.dataset.order !== undefined ? cell.dataset.order : Number(cell.textContent);
  }

  function sort() {
    rows.sort(function (a, b) {
      var x = key(a, sortColumn);
      var y = key(b, sortColumn);
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    headers.forEach(function (th, i) {
      if (i === sortColumn) {
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  function render() {
    var needle = search.value.trim().toLowerCase();
    var shown = rows.filter(function (row) {
      return !needle || row.cells[0].textContent.toLowerCase().indexOf(needle) !== -1;
    });
    var pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(page, pages - 1);
    body.replaceChildren.apply(body, shown.slice(page * pageSize, (page + 1) * pageSize));
    var buttons = [];
    for (var i = 0; i < pages; i++) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = String(i + 1);
      button.dataset.page = String(i);
      if (i === page) {
        button.setAttribute("aria-current", "page");
      }
      buttons.push(button);
    }
    pager.replaceChildren.apply(pager, buttons);
    pager.hidden = pages < 2;
  }

  headers.forEach(function (th, i) {
    th.tabIndex = 0;
    function choose() {
      descending = i === sortColumn ? !descending : i !== 0;
      sortColumn = i;
      page = 0;
      sort();
      render();
    }
    th.addEventListener("click", choose);
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose();
      }
    });
  });
  pager.addEventListener("click", function (event) {
    if (event.target.dataset.page !== undefined) {
      page = Number(event.target.dataset.page);
      render();
    }
  });
  search.addEventListener("input", function () {
    page = 0;
    render();
  });
  search.closest(".table-tools").hidden = false;
  sort();
  render();
})();
