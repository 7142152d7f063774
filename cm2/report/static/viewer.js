/* cm2 trajectory viewer: renders the JSON embedded in the page. Every string from the data goes
   through textContent (never innerHTML), so policy and tool text cannot inject markup. */
(function () {
  "use strict";

  var SYMBOL = { sat: "\u2713", fail: "\u2717", unk: "?", carried: "(\u2713)" };
  var STATUS_NAME = {
    sat: "satisfied at this step",
    fail: "not satisfied",
    unk: "unknown (no usable verdict)",
    carried: "satisfied at an earlier step (carried)"
  };
  var FINAL_NAME = { sat: "satisfied", fail: "failed", unk: "unknown" };

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, String(value));
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(child);
    });
    return node;
  }

  function num(value, signed) {
    if (value === null || value === undefined) return "\u2013";
    var text = Number(value).toFixed(3);
    return signed && value > 0 ? "+" + text : text;
  }

  function pre(text, className) {
    return el("pre", { className: className || "cm2-pre", text: text });
  }

  function init(root) {
    var data = JSON.parse(document.getElementById(root.getAttribute("data-source")).textContent);
    var state = { run: "", dialogue: "", rollout: "", step: "", status: "", selected: null };
    var rollouts = data.rollouts;

    function uniq(values) {
      var seen = {};
      return values.filter(function (v) {
        var key = String(v);
        if (v === null || v === undefined || seen[key]) return false;
        seen[key] = true;
        return true;
      });
    }

    function select(id, label, options, key) {
      var node = el("select", { id: id, "aria-label": label }, [el("option", { value: "", text: "all" })]);
      options.forEach(function (option) {
        node.appendChild(el("option", { value: String(option[0]), text: option[1] }));
      });
      node.addEventListener("change", function () {
        state[key] = node.value;
        state.selected = null;
        refresh();
      });
      return el("label", { className: "cm2-filter" }, [el("span", { text: label }), node]);
    }

    var steps = uniq(rollouts.map(function (r) { return r.train_step; })).sort(function (a, b) { return a - b; });
    var runs = uniq(rollouts.map(function (r) { return r.run; }));
    var filters = el("div", { className: "cm2-filters" }, [
      runs.length > 1 ? select("cm2-filter-run", "run", runs.map(function (x) { return [x, x]; }), "run") : null,
      select("cm2-filter-dialogue", "dialogue", uniq(rollouts.map(function (r) { return r.dialogue; })).map(function (d) { return [d, d]; }), "dialogue"),
      select("cm2-filter-rollout", "rollout", uniq(rollouts.map(function (r) { return r.rollout; })).sort(function (a, b) { return a - b; }).map(function (i) { return [i, "rollout " + i]; }), "rollout"),
      steps.length ? select("cm2-filter-step", "step", steps.map(function (s) { return [s, "step " + s]; }), "step") : null,
      select("cm2-filter-status", "items", [["sat", "satisfied"], ["fail", "failed"], ["unk", "unknown"]], "status"),
      el("span", { id: "cm2-count", className: "cm2-count" })
    ]);
    var list = el("nav", { id: "cm2-list", className: "cm2-list", "aria-label": "rollouts" });
    var detail = el("div", { id: "cm2-detail", className: "cm2-detail" });
    var panel = el("aside", { id: "cm2-item-panel", className: "cm2-item-panel", hidden: "hidden" });
    var notes = el("ul", { className: "cm2-notes" }, (data.notes || []).map(function (n) { return el("li", { text: n }); }));
    root.textContent = "";
    root.appendChild(filters);
    if (data.notes && data.notes.length) root.appendChild(notes);
    root.appendChild(el("div", { className: "cm2-body" }, [list, detail, panel]));

    function matches(r) {
      return (!state.run || r.run === state.run) &&
        (!state.dialogue || r.dialogue === state.dialogue) &&
        (!state.rollout || String(r.rollout) === state.rollout) &&
        (!state.step || String(r.train_step) === state.step) &&
        (!state.status || r.statuses.indexOf(state.status) >= 0);
    }

    function itemInfo(r, turn, id) {
      var checklist = r.checklist_key ? data.checklists[r.checklist_key] : null;
      var items = checklist && checklist[turn] ? checklist[turn] : [];
      for (var i = 0; i < items.length; i++) if (items[i].id === id) return items[i];
      return null;
    }

    function field(name, value) {
      return el("div", { className: "cm2-field" }, [el("dt", { text: name }), el("dd", { text: value })]);
    }

    function showItem(r, turn, step, cell) {
      var info = itemInfo(r, turn, cell.item);
      panel.textContent = "";
      panel.removeAttribute("hidden");
      panel.appendChild(el("button", { className: "cm2-close", type: "button", "aria-label": "close", text: "\u00d7",
        onclick: function () { panel.setAttribute("hidden", "hidden"); } }));
      panel.appendChild(el("h3", { className: "cm2-item-id", text: "Item " + cell.item + " \u00b7 turn " + turn + " \u00b7 step " + step }));
      var fields = [];
      if (info) {
        fields.push(field("question", info.question));
        fields.push(field("pass condition", info.pass_condition || "\u2013"));
        fields.push(field("focus", info.focus));
        fields.push(field("weight", num(info.weight)));
        fields.push(field("depends on", info.dependence.length ? info.dependence.join(", ") : "nothing"));
        fields.push(field("required for next turn", info.required ? "yes" : "no"));
      } else {
        fields.push(field("item", "question and pass condition unknown (view with --dialogues)"));
      }
      fields.push(field("status", SYMBOL[cell.status] + " " + STATUS_NAME[cell.status]));
      fields.push(field("verdict", cell.verdict === undefined || cell.verdict === null ? "none" : String(cell.verdict)));
      fields.push(field("source", cell.source || "no verdict recorded"));
      fields.push(field("reason", cell.reason || "\u2013"));
      if (cell.votes) fields.push(field("votes", cell.votes.map(String).join(", ")));
      if (cell.flip !== undefined && cell.flip !== null) {
        fields.push(field("flip reward r", num(cell.flip)));
        fields.push(field("backfilled r\u0303", num(cell.backfilled)));
        fields.push(field("eligible", cell.eligible ? "yes (dependencies met, not yet satisfied)" : "no"));
      }
      panel.appendChild(el("dl", { className: "cm2-fields" }, fields));
      if (info && info.failure_examples.length) {
        panel.appendChild(el("h4", { text: "failure examples" }));
        panel.appendChild(el("ul", {}, info.failure_examples.map(function (x) { return el("li", { text: x }); })));
      }
    }

    function cellText(r, turn, cell) {
      var text = cell.item + " " + SYMBOL[cell.status];
      var info = itemInfo(r, turn, cell.item);
      if (cell.status === "sat" && cell.flip !== undefined && cell.flip !== null) {
        var earned = info ? info.weight * cell.flip : cell.flip;
        text += cell.flip > 0 ? " +" + earned.toFixed(2) : " 0";
      }
      return text;
    }

    function cellTitle(cell) {
      var title = STATUS_NAME[cell.status] + (cell.source ? " \u00b7 " + cell.source : "");
      if (cell.status === "sat" && cell.flip === 0) title += " \u00b7 no reward: a dependency was not met yet";
      return title;
    }

    function chip(r, turn, step, cell, final) {
      var classes = "cm2-chip cm2-" + cell.status + (cell.flip > 0 ? " cm2-flip" : "");
      if (state.status && final !== state.status) classes += " cm2-hidden";
      return el("button", { type: "button", className: classes, "data-item": cell.item, "data-status": cell.status,
        title: cellTitle(cell), text: cellText(r, turn, cell), onclick: function () { showItem(r, turn, step, cell); } });
    }

    function renderStep(r, turn, step) {
      var head = "Step " + step.index + " \u00b7 earned " + num(step.reward) + " \u00b7 advantage " + num(step.advantage, true);
      var parts = [el("div", { className: "cm2-step-head", text: head })];
      if (step.thinking !== undefined && step.thinking !== null) {
        parts.push(el("details", { className: "cm2-thinking" }, [
          el("summary", { text: "thinking (" + step.thinking.length + " characters)" }), pre(step.thinking)]));
      }
      if (step.reply) parts.push(el("div", { className: "cm2-msg cm2-assistant", text: step.reply }));
      step.calls.forEach(function (call) {
        parts.push(el("div", { className: "cm2-call" }, [el("span", { className: "cm2-call-name", text: "\u2192 " + call.name }), pre(call.arguments)]));
      });
      step.results.forEach(function (result) {
        parts.push(el("div", { className: "cm2-result" }, [
          el("span", { className: "cm2-src cm2-src-" + result.source, text: result.source }),
          el("span", { className: "cm2-result-name", text: result.name || "tool" }), pre(result.content)]));
      });
      step.parse_errors.forEach(function (error) {
        parts.push(el("div", { className: "cm2-parse-error", text: "unparsed tool call: " + error }));
      });
      var finals = turn.final;
      parts.push(el("div", { className: "cm2-chips" }, step.cells.map(function (cell) {
        return chip(r, turn.index, step.index, cell, finals[cell.item]);
      })));
      return el("div", { className: "cm2-step", "data-step": step.index }, parts);
    }

    function renderMatrix(r, turn) {
      if (!turn.items.length) return null;
      var head = [el("th", { text: "item" }), el("th", { text: "w" }), el("th", { text: "needs" })];
      turn.steps.forEach(function (s) { head.push(el("th", { text: "s" + s.index })); });
      head.push(el("th", { text: "earned" }), el("th", { text: "end" }));
      var rows = turn.items.map(function (id, c) {
        var info = itemInfo(r, turn.index, id);
        var cells = [el("th", { scope: "row", text: id, title: info ? info.question : "" }),
          el("td", { text: info ? num(info.weight) : "\u2013" }),
          el("td", { text: info && info.dependence.length ? info.dependence.join(",") : "" })];
        turn.steps.forEach(function (s) {
          var cell = s.cells[c];
          cells.push(el("td", {}, [el("button", { type: "button", className: "cm2-cell cm2-" + cell.status + (cell.flip > 0 ? " cm2-flip" : ""),
            title: cellTitle(cell), text: SYMBOL[cell.status], "data-item": id, "data-step": s.index,
            onclick: function () { showItem(r, turn.index, s.index, cell); } })]));
        });
        var earned = turn.earned[id];
        cells.push(el("td", { text: earned === undefined ? "\u2013" : num(earned) }));
        cells.push(el("td", { className: "cm2-final cm2-" + turn.final[id], text: FINAL_NAME[turn.final[id]] }));
        var hidden = state.status && turn.final[id] !== state.status;
        return el("tr", { className: hidden ? "cm2-hidden" : "", "data-final": turn.final[id] }, cells);
      });
      return el("table", { className: "cm2-matrix" }, [el("thead", {}, [el("tr", {}, head)]), el("tbody", {}, rows)]);
    }

    function renderRollout(r) {
      detail.textContent = "";
      panel.setAttribute("hidden", "hidden");
      detail.appendChild(el("h2", { text: r.dialogue + " \u00b7 rollout " + r.rollout }));
      var meta = [["group", r.group || "\u2013"], ["checklist", String(r.checklist)],
        ["training step", r.train_step === undefined || r.train_step === null ? "\u2013" : String(r.train_step)],
        ["stop", r.stop_reason || "\u2013"], ["reward R", num(r.reward) + (r.reward_source ? " (" + r.reward_source + ")" : "")],
        ["advantage", num(r.advantage, true) + (r.level ? " (" + r.level + " level)" : "")],
        ["valid", r.valid === undefined || r.valid === null ? "\u2013" : String(r.valid)]];
      detail.appendChild(el("dl", { className: "cm2-meta" }, meta.map(function (m) { return field(m[0], m[1]); })));
      if (r.notes.length) detail.appendChild(el("ul", { className: "cm2-notes" }, r.notes.map(function (n) { return el("li", { text: n }); })));
      if (r.system) detail.appendChild(el("details", { className: "cm2-system" }, [el("summary", { text: "system message" }), pre(r.system)]));
      r.turns.forEach(function (turn) {
        var parts = [el("h3", { text: "Turn " + turn.index + " \u00b7 R_t = " + num(turn.reward) })];
        if (turn.user !== undefined && turn.user !== null) parts.push(el("div", { className: "cm2-msg cm2-user", text: turn.user }));
        turn.steps.forEach(function (step) { parts.push(renderStep(r, turn, step)); });
        var matrix = renderMatrix(r, turn);
        if (matrix) parts.push(matrix);
        detail.appendChild(el("section", { className: "cm2-turn", "data-turn": turn.index }, parts));
      });
    }

    function refresh() {
      var shown = rollouts.filter(matches);
      list.textContent = "";
      document.getElementById("cm2-count").textContent = shown.length + " of " + rollouts.length + " rollouts";
      if (!shown.some(function (r) { return r.key === state.selected; })) state.selected = shown.length ? shown[0].key : null;
      shown.forEach(function (r) {
        var name = r.dialogue.length > 14 ? r.dialogue.slice(0, 12) + "\u2026" : r.dialogue;
        var label = (r.run && runs.length > 1 ? r.run + " \u00b7 " : "") + name + " \u00b7 #" + r.rollout + (r.train_step ? " \u00b7 step " + r.train_step : "") +
          " \u00b7 R " + num(r.reward) + (r.stop_reason ? " \u00b7 " + r.stop_reason : "");
        list.appendChild(el("button", { type: "button", className: "cm2-list-entry", "data-key": r.key, text: label, title: r.dialogue,
          "aria-current": r.key === state.selected ? "true" : null,
          onclick: function () { state.selected = r.key; refresh(); } }));
      });
      var chosen = rollouts.filter(function (r) { return r.key === state.selected; })[0];
      if (chosen) renderRollout(chosen);
      else {
        detail.textContent = "";
        detail.appendChild(el("p", { className: "cm2-empty", text: "No rollout matches these filters." }));
      }
    }

    refresh();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-cm2-viewer]"), init);
})();
