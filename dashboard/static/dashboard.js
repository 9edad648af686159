// The class dashboard's live updates: listen on /events (server-sent events) and redraw the students
// table and the heat map. Every value a student sent goes in with textContent or a property, never
// innerHTML: a check named <img src=x onerror=...> is shown as those characters and creates no element.
"use strict";

const COLUMNS = ["student", "stage", "since", "checks", "first_failing", "hints", "last"];
let skew = 0; // browser clock minus server clock, in seconds

function ago(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")} min`;
}

function serverNow() {
  return Date.now() / 1000 - skew;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function fillRow(tr, row) {
  tr.dataset.student = row.student;
  tr.replaceChildren(...COLUMNS.map(column => {
    const td = element("td", column);
    if (column === "since" || column === "last") {
      td.dataset.at = String(row[column]);
    } else if (column === "hints") {
      td.textContent = row.hint_topics ? `${row.hints} (${row.hint_topics})` : String(row.hints);
    } else {
      td.textContent = String(row[column]);
    }
    return td;
  }));
  tickRow(tr);
}

function tickRow(tr) {
  tr.querySelectorAll("td[data-at]").forEach(td => {
    const text = ago(serverNow() - Number(td.dataset.at));
    td.textContent = td.classList.contains("last") ? `${text} ago` : text;
  });
}

function upsert(row, fresh) {
  const body = document.querySelector("#students tbody");
  let tr = Array.from(body.rows).find(each => each.dataset.student === row.student);
  if (!tr) {
    tr = document.createElement("tr");
    const after = Array.from(body.rows).find(each => each.dataset.student > row.student);
    body.insertBefore(tr, after || null);
  }
  fillRow(tr, row);
  if (fresh) { // a new verdict: highlight the row for a moment
    tr.classList.remove("fresh");
    void tr.offsetWidth; // restart the animation
    tr.classList.add("fresh");
  }
  document.getElementById("count").textContent = String(body.rows.length);
}

function bucket(passed, seen) {
  return seen ? Math.round((10 * passed) / seen) : 0;
}

function drawHeat(heat) {
  const sections = heat.map(stage => {
    const section = element("section", "stage");
    section.dataset.stage = stage.stage;
    const title = element("h3", `heat-${bucket(stage.passed, stage.graded)}`, `${stage.stage} `);
    title.append(element("span", "rate", `${stage.passed}/${stage.graded} pass`));
    const cells = element("ol", "cells");
    for (const check of stage.checks) {
      const li = element("li", `cell heat-${bucket(check.passed, check.seen)}`);
      li.title = check.check;
      li.append(element("span", "name", check.check), element("span", "rate", `${check.passed}/${check.seen}`));
      cells.append(li);
    }
    section.append(title, cells);
    return section;
  });
  const heatBox = document.getElementById("heat");
  heatBox.replaceChildren(...(sections.length ? sections : [element("p", "muted", "No verdict yet.")]));
}

function connect() {
  const status = document.getElementById("status");
  const source = new EventSource("/events");
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting..."; });
  source.addEventListener("snapshot", message => {
    const data = JSON.parse(message.data);
    skew = Date.now() / 1000 - data.now;
    document.querySelector("#students tbody").replaceChildren();
    data.students.forEach(row => upsert(row, false));
    drawHeat(data.heat);
  });
  source.addEventListener("verdict", message => {
    const data = JSON.parse(message.data);
    upsert(data.student, true);
    drawHeat(data.heat);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  skew = Date.now() / 1000 - Number(document.body.dataset.now);
  connect();
  setInterval(() => document.querySelectorAll("#students tbody tr").forEach(tickRow), 1000);
});
