// One line chart per kind of network, from /stats_<kind>.json: the number of
// distinct networks known at the end of each month. The same numbers fill the
// table under each chart.
(function () {
  "use strict";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function month(ms) {
    var d = new Date(ms);
    return MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear();
  }

  function shortNumber(value) {
    if (value >= 1e6) {
      return (value / 1e6).toFixed(1) + " M";
    }
    if (value >= 1e3) {
      return (value / 1e3).toFixed(1) + " k";
    }
    return String(value);
  }

  function fillTable(name, points) {
    var body = document.querySelector("#" + name + "_data tbody");
    if (!body) {
      return;
    }
    body.replaceChildren.apply(body, points.map(function (p) {
      var row = document.createElement("tr");
      var when = document.createElement("td");
      var value = document.createElement("td");
      when.textContent = month(p[0]);
      value.textContent = p[1].toLocaleString("en");
      value.className = "number";
      row.append(when, value);
      return row;
    }));
  }

  function say(canvas, text) {
    var p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    canvas.replaceWith(p);
  }

  function draw(canvas, body) {
    var series = body.series[0];
    var name = canvas.id.replace(/_chart$/, "");
    fillTable(name, series.data);
    if (!series.data.length) {
      say(canvas, "No data yet.");
      return;
    }
    new Chart(canvas, {
      type: "line",
      data: {
        labels: series.data.map(function (p) { return month(p[0]); }),
        datasets: [{
          label: series.title,
          data: series.data.map(function (p) { return p[1]; }),
          borderColor: "rgb(0, 150, 221)",
          backgroundColor: "rgb(0, 150, 221)",
          pointRadius: 3,
          fill: false,
          tension: 0
        }]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { callback: shortNumber, precision: 0 } }
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) { return series.title + ": " + item.parsed.y; }
            }
          }
        }
      }
    });
  }

  document.querySelectorAll("canvas.chart").forEach(function (canvas) {
    fetch(canvas.dataset.src, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (body) { draw(canvas, body); })
      .catch(function () { say(canvas, "The numbers could not be loaded."); });
  });
})();
