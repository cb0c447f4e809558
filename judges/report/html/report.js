"use strict";
// t2v-judges report page. Every string from the data is inserted with textContent (via el()),
// never as HTML; nothing here builds markup from text.
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 20;
  const OUTCOME = { a: "video_0", b: "video_1", t: "tie", r: "refused", u: "unparsed", e: "error", k: "ok", ".": "—" };

  function el(tag, props, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k in node && typeof v !== "string") node[k] = v;
      else node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const $ = (id) => document.getElementById(id);
  // Numbers as the markdown tables print them (3 decimals), or to d significant digits.
  const fmt = (x, d = 3, sig = false) => (x === null || x === undefined || Number.isNaN(x) ? "" :
    typeof x === "number" ? (Number.isInteger(x) ? String(x) :
      sig ? String(Number(x.toPrecision(d))) : x.toFixed(d)) : String(x));

  // --- tabs -----------------------------------------------------------------------------
  function showTab(name) {
    $("overview").hidden = name !== "overview";
    $("browser").hidden = name !== "pairs";
    $("tab-overview").setAttribute("aria-pressed", String(name === "overview"));
    $("tab-pairs").setAttribute("aria-pressed", String(name === "pairs"));
    if (name !== "pairs") player.pause();
  }
  $("tab-overview").addEventListener("click", () => showTab("overview"));
  $("tab-pairs").addEventListener("click", () => { showTab("pairs"); saveHash(); });

  $("title").textContent = "Run " + (DATA.run_id || "");
  if (DATA.overview && DATA.overview.notice) {
    $("notice").textContent = DATA.overview.notice;
    $("notice").hidden = false;
  }

  // --- overview -------------------------------------------------------------------------
  function table(columns, rows, id, numeric) {
    return el("div", { class: "scroll" }, el("table", { id },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) =>
        el("td", { class: numeric && i >= numeric ? "num" : null }, fmt(v))))))));
  }
  function renderOverview() {
    const ov = DATA.overview;
    const root = $("overview");
    for (const f of ov.flags || []) root.append(el("p", { class: "flag" }, "⚠ " + f));
    for (const n of DATA.notes || []) root.append(el("p", { class: "note" }, n));
    root.append(el("h2", {}, ov.title || "Agreement with human labels"));
    root.append(el("p", { class: "note" }, ov.legend ||
      ("Cells: agreement [" + ov.interval + "] n=labeled pairs; undecided counts as disagreement.")));
    root.append(table(ov.columns, ov.rows, "agreement-table", 2));
    if (ov.ceiling) {
      root.append(el("h2", {}, "Human ceiling (leave-one-out)"));
      root.append(table(ov.ceiling_columns, ov.ceiling, "ceiling-table", 2));
    }
    if (ov.extra) for (const x of ov.extra) {
      root.append(el("h2", {}, x.title));
      root.append(table(x.columns, x.rows, null, 1));
    }
    const details = el("details", {}, el("summary", {}, "All statistics (agreement.csv)"));
    details.append(table(ov.long.columns, ov.long.rows, "long-table", 3));
    root.append(details);
    if ((DATA.figures || []).length) {
      root.append(el("h2", {}, "Figures"));
      root.append(el("div", { class: "figures" }, DATA.figures.map((f) =>
        el("figure", {}, el("img", { src: f.src, alt: f.name }), el("figcaption", {}, f.name)))));
    }
  }

  // --- synchronized playback ------------------------------------------------------------
  const player = {
    vids: [], fps: 8, playing: false, rate: 1, raf: 0, heads: [],
    attach(vids, fps) {
      this.pause();
      this.vids = vids.filter(Boolean);
      this.fps = fps || 8;
      for (const v of this.vids) {
        v.playbackRate = this.rate;
        v.addEventListener("loadedmetadata", () => this.update());
        v.addEventListener("ended", () => this.onEnded());
      }
      this.update();
    },
    duration() { return Math.max(0, ...this.vids.map((v) => v.duration || 0)); },
    leader() {
      let best = null;
      for (const v of this.vids) if (!best || (v.duration || 0) > (best.duration || 0)) best = v;
      return best;
    },
    time() { const l = this.leader(); return l ? l.currentTime : 0; },
    play() {
      if (!this.vids.length) return;
      if (this.time() >= this.duration() - 1e-3) this.seek(0);
      const t = this.time();
      this.playing = true;
      for (const v of this.vids) if (t < (v.duration || Infinity)) v.play().catch(() => {});
      this.loop();
      this.update();
    },
    pause() {
      this.playing = false;
      cancelAnimationFrame(this.raf);
      for (const v of this.vids) v.pause();
      const t = this.time();
      for (const v of this.vids) this.place(v, t);
      this.update();
    },
    toggle() { this.playing ? this.pause() : this.play(); },
    // A shorter video holds its last frame: it is parked at its end.
    place(v, t) {
      const end = v.duration || 0;
      const target = end && t >= end ? end : t;
      if (Math.abs(v.currentTime - target) > 1e-4) v.currentTime = target;
    },
    seek(t) {
      t = Math.max(0, Math.min(t, this.duration() || t));
      for (const v of this.vids) this.place(v, t);
      this.update(t);
    },
    step(frames) { this.pause(); this.seek(this.time() + frames / this.fps); },
    setRate(r) { this.rate = r; for (const v of this.vids) v.playbackRate = r; this.update(); },
    onEnded() {
      const l = this.leader();
      if (l && l.ended) { this.playing = false; cancelAnimationFrame(this.raf); this.update(); }
    },
    loop() {
      cancelAnimationFrame(this.raf);
      const tick = () => {
        if (!this.playing) return;
        const l = this.leader();
        const t = l ? l.currentTime : 0;
        for (const v of this.vids) {
          if (v === l) continue;
          if (t >= (v.duration || 0)) { if (!v.paused) v.pause(); this.place(v, t); }
          else if (Math.abs(v.currentTime - t) > 0.5 / this.fps) v.currentTime = t;
          else if (v.paused) v.play().catch(() => {});
        }
        this.update();
        this.raf = requestAnimationFrame(tick);
      };
      this.raf = requestAnimationFrame(tick);
    },
    update(at) {
      const t = at === undefined ? this.time() : at;
      const d = this.duration();
      const bar = $("scrub");
      if (bar && document.activeElement !== bar) bar.value = d ? String(Math.round((t / d) * 1000)) : "0";
      const label = $("time");
      if (label) label.textContent = t.toFixed(2) + " / " + d.toFixed(2) + " s";
      const btn = $("play");
      if (btn) btn.textContent = this.playing ? "❚❚ pause" : "▶ play";
      for (const h of this.heads) {
        const dur = h.video ? h.video.duration || h.duration : h.duration;
        h.node.style.left = dur ? Math.min(100, (t / dur) * 100) + "%" : "0%";
      }
    },
  };

  // --- the pair browser (preference runs) -----------------------------------------------
  const HARM = DATA.kind === "harm";
  const P = DATA.pairs;
  const nPairs = P ? P.id.length : DATA.items ? DATA.items.id.length : 0;
  const settings = DATA.settings || [];
  function decode(s) {
    if (s._pairs) return s;
    const out = new Int32Array(s.p.length);
    let acc = 0;
    for (let i = 0; i < s.p.length; i++) { acc += s.p[i]; out[i] = acc; }
    s._pairs = out;
    return s;
  }
  function rowOf(s) {
    if (s._row) return s._row;
    decode(s);
    const row = new Int32Array(nPairs).fill(-1);
    for (let i = 0; i < s._pairs.length; i++) row[s._pairs[i]] = i;
    s._row = row;
    return row;
  }
  const state = { judge: null, dimension: null, frames: null, outcome: "disagreements",
    generator: "", query: "", list: [], pos: 0 };
  const uniq = (xs) => [...new Set(xs)];
  function currentSetting() {
    return settings.find((s) => s.judge === state.judge && s.dimension === state.dimension &&
      s.frames === state.frames) || null;
  }
  function selectBox(id, label, options, value, onChange) {
    const sel = el("select", { id, on: { change: (e) => onChange(e.target.value) } },
      options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
    return el("label", {}, label, sel);
  }
  const OUTCOMES = [["disagreements", "disagreements"], ["agreements", "agreements"],
    ["judge_ties", "judge ties"], ["human_ties", "human ties"], ["errors", "errors / refusals"],
    ["all", "all"]];
  function renderFilters() { return HARM ? harmFilters() : prefFilters(); }
  function prefFilters() {
    const box = $("filters");
    box.replaceChildren();
    const judges = uniq(settings.map((s) => s.judge));
    const dims = uniq(settings.filter((s) => s.judge === state.judge).map((s) => s.dimension));
    if (!dims.includes(state.dimension)) state.dimension = dims[0];
    const frames = uniq(settings.filter((s) => s.judge === state.judge &&
      s.dimension === state.dimension).map((s) => s.frames));
    if (!frames.includes(state.frames)) state.frames = frames[0];
    box.append(selectBox("f-judge", "judge", judges.map((j) => [j, j]), state.judge,
      (v) => { state.judge = v; refilter(true); }));
    box.append(selectBox("f-dimension", "dimension", dims.map((d) => [d, d]), state.dimension,
      (v) => { state.dimension = v; refilter(true); }));
    box.append(selectBox("f-frames", "frames", frames.map((f) => [f, f]), state.frames,
      (v) => { state.frames = v; refilter(true); }));
    box.append(selectBox("f-outcome", "outcome", OUTCOMES, state.outcome,
      (v) => { state.outcome = v; refilter(false); }));
    if ((DATA.generators || []).length) {
      box.append(selectBox("f-generator", "generator (either video)",
        [["", "any"], ...DATA.generators.map((g, i) => [String(i), g])], state.generator,
        (v) => { state.generator = v; refilter(false); }));
    }
    const search = el("input", { id: "f-prompt", type: "search", placeholder: "words in the prompt",
      value: state.query });
    search.addEventListener("input", () => { state.query = search.value; refilter(false); });
    box.append(el("label", {}, "prompt contains", search));
  }
  function keep(code, human) {
    switch (state.outcome) {
      case "disagreements": return human !== "." && code !== human;
      case "agreements": return human !== "." && code === human;
      case "judge_ties": return code === "t";
      case "human_ties": return human === "t";
      case "errors": return code === "r" || code === "u" || code === "e";
      default: return true;
    }
  }
  function refilter(rebuild) {
    if (rebuild) renderFilters();
    if (HARM) return harmRefilter();
    const s = currentSetting();
    const list = [];
    if (s) {
      decode(s);
      const humans = DATA.humans[s.dimension] || "";
      const g = state.generator === "" ? -1 : Number(state.generator);
      const q = state.query.trim().toLowerCase();
      for (let i = 0; i < s._pairs.length; i++) {
        const p = s._pairs[i];
        if (!keep(s.o[i], humans[p] || ".")) continue;
        if (g >= 0 && P.g0[p] !== g && P.g1[p] !== g) continue;
        if (q && !DATA.prompts[P.prompt[p]].toLowerCase().includes(q)) continue;
        list.push(p);
      }
    }
    state.list = list;
    state.pos = 0;
    renderList();
    renderPair();
  }
  function renderList() { return HARM ? harmList() : prefList(); }
  function prefList() {
    const total = state.list.length;
    const page = Math.floor(state.pos / PAGE);
    const pages = Math.max(1, Math.ceil(total / PAGE));
    $("count").textContent = total + " pair" + (total === 1 ? "" : "s");
    $("page-label").textContent = (total ? page + 1 : 0) + " / " + (total ? pages : 0);
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
    const s = currentSetting();
    const row = s ? rowOf(s) : null;
    const items = [];
    for (let k = page * PAGE; k < Math.min(total, (page + 1) * PAGE); k++) {
      const p = state.list[k];
      const code = row && row[p] >= 0 ? s.o[row[p]] : ".";
      const human = (DATA.humans[state.dimension] || "")[p] || ".";
      items.push(el("li", { class: k === state.pos ? "current" : null, "data-pair": P.id[p],
        title: P.id[p] + "\n" + DATA.prompts[P.prompt[p]], on: { click: () => go(k) } },
        el("span", { class: "li-head" }, (k + 1) + ". people " + OUTCOME[human] + " · " +
          state.judge + " " + OUTCOME[code]),
        el("span", { class: "li-prompt" }, DATA.prompts[P.prompt[p]])));
    }
    $("page-list").replaceChildren(...items);
  }
  function go(k) {
    if (!state.list.length) return;
    state.pos = Math.max(0, Math.min(state.list.length - 1, k));
    renderList();
    renderPair();
  }
  $("page-prev").addEventListener("click", () => go((Math.floor(state.pos / PAGE) - 1) * PAGE));
  $("page-next").addEventListener("click", () => go((Math.floor(state.pos / PAGE) + 1) * PAGE));

  function videoPane(vIndex, side, marks, frames, generator) {
    const v = DATA.videos[vIndex];
    const stage = el("div", { class: "stage" });
    let video = null;
    const missing = (why) => el("div", { class: "placeholder", "data-missing": v.file || v.url || v.name },
      el("strong", {}, why), el("span", {}, v.file || v.url || v.name));
    if (v.state === "missing") stage.append(missing("video missing"));
    else if (v.state === "fallback") {
      const kf = v.kf || {};
      const idx = Object.keys(kf.thumbs || {}).map(Number).sort((a, b) => a - b);
      stage.append(idx.length ? el("div", { class: "strip", title: "codec " + (v.codec || "?") +
        " does not play in browsers; its keyframes" }, idx.map((i) => el("img", { src: kf.thumbs[i], alt: "frame " + i })))
        : missing("cannot play codec " + (v.codec || "?")));
    } else {
      video = el("video", { src: v.url, preload: "auto", muted: true, playsInline: true,
        "data-side": side === null ? "0" : side });
      video.muted = true;
      video.addEventListener("error", () => {
        stage.replaceChildren(missing("cannot load video"));
        player.vids = player.vids.filter((x) => x !== video);
      });
      stage.append(video);
    }
    const timeline = el("div", { class: "timeline", "data-side": side === null ? "0" : side });
    const kf = v.kf || {};
    const fps = v.fps || kf.fps || 8;
    const total = v.frames || kf.frames || 0;
    const duration = total / fps;
    const shown = (kf.by_count && frames !== null && kf.by_count[frames]) || [];
    for (const i of shown) {
      const thumb = el("img", { class: "kf", src: kf.thumbs[i], alt: "keyframe " + i,
        title: "frame " + i + " (" + (i / fps).toFixed(2) + " s): click to seek both",
        tabindex: "0", "data-frame": String(i) });
      // The tick marks the frame's exact time; the thumbnail is kept inside the bar.
      const at = total ? ((i + 0.5) / total) * 100 : 0;
      const tick = el("div", { class: "tick" });
      tick.style.left = at + "%";
      timeline.append(tick);
      thumb.style.left = Math.min(94, Math.max(6, at)) + "%";
      const seek = () => { player.pause(); player.seek((i + 0.5) / fps); };
      thumb.addEventListener("click", seek);
      thumb.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
      timeline.append(thumb);
    }
    const head = el("div", { class: "head" });
    timeline.append(head);
    player.heads.push({ node: head, video, duration });
    return {
      video, fps,
      node: el("div", { class: "side" },
        el("h3", {}, side === null ? "video" : "video_" + side, marks,
          generator >= 0 ? el("span", { class: "note" }, DATA.generators[generator]) : null),
        stage, timeline),
    };
  }

  function renderPair() { return HARM ? harmItem() : prefPair(); }
  function prefPair() {
    const box = $("pair");
    player.pause();
    player.heads = [];
    if (!state.list.length) {
      box.replaceChildren(el("p", { class: "note" }, "No pair matches these filters."));
      player.attach([], 8);
      return;
    }
    const p = state.list[state.pos];
    state.current = p;
    const s = currentSetting();
    const code = s.o[rowOf(s)[p]];
    const human = (DATA.humans[s.dimension] || "")[p] || ".";
    const marks = (side) => [
      human === side ? el("span", { class: "badge human" }, "people") : null,
      code === side ? el("span", { class: "badge judge" }, s.judge) : null,
    ];
    const n = s.n === null ? null : String(s.n);
    const left = videoPane(P.v0[p], 0, marks("a"), n, P.g0 ? P.g0[p] : -1);
    const right = videoPane(P.v1[p], 1, marks("b"), n, P.g1 ? P.g1[p] : -1);
    player.attach([left.video, right.video], Math.max(left.fps, right.fps));
    const controls = controlBar();
    box.replaceChildren(
      el("p", { class: "prompt", id: "prompt" }, DATA.prompts[P.prompt[p]]),
      el("p", { class: "pair-id" }, "pair " + P.id[p] + " · " + (state.pos + 1) + " of " + state.list.length),
      el("div", { class: "videos" }, left.node, right.node),
      controls,
      peopleBlock(p, s.dimension, human),
      verdictTable(p, s));
    player.update();
    saveHash();
  }
  function controlBar() {
    const speed = el("select", { id: "speed", title: "playback speed",
      on: { change: (e) => player.setRate(Number(e.target.value)) } },
      [0.25, 0.5, 1, 1.5, 2].map((r) => el("option", { value: String(r), selected: r === player.rate }, r + "×")));
    const scrub = el("input", { id: "scrub", type: "range", min: "0", max: "1000", value: "0",
      "aria-label": "seek both videos" });
    scrub.addEventListener("input", () => player.seek((Number(scrub.value) / 1000) * player.duration()));
    return el("div", { class: "controls" },
      el("button", { type: "button", id: "prev", title: "previous (← or k)", on: { click: () => go(state.pos - 1) } }, "◀ prev"),
      el("button", { type: "button", id: "play", on: { click: () => player.toggle() } }, "▶ play"),
      el("button", { type: "button", id: "step-back", title: "one frame back (,)", on: { click: () => player.step(-1) } }, "⟨ frame"),
      el("button", { type: "button", id: "step-fwd", title: "one frame forward (.)", on: { click: () => player.step(1) } }, "frame ⟩"),
      scrub, el("span", { id: "time", class: "time" }), speed,
      el("button", { type: "button", id: "next", title: "next (→ or j)", on: { click: () => go(state.pos + 1) } }, "next ▶"));
  }
  function peopleBlock(p, dim, human) {
    const block = el("div", { class: "people", id: "people" },
      el("strong", {}, "People (" + dim + "): "), OUTCOME[human] || "—");
    const votes = DATA.votes && DATA.votes.by_dimension[dim] && DATA.votes.by_dimension[dim][p];
    if (votes) {
      block.append(el("ul", { id: "votes" }, votes.map(([a, c]) =>
        el("li", {}, DATA.votes.annotators[a] + ": " + (OUTCOME[c] || c)))));
    }
    return block;
  }
  function verdictTable(p, selected) {
    const rows = [];
    for (const s of settings) {
      if (s.dimension !== selected.dimension) continue;
      const i = rowOf(s)[p];
      if (i < 0) continue;
      const human = (DATA.humans[s.dimension] || "")[p] || ".";
      const code = s.o[i];
      const verdict = el("span", { class: human === "." ? null : code === human ? "agree" : "disagree" }, OUTCOME[code]);
      const conf = s.c && s.c[i] !== null ? fmt(s.c[i], 4, true) + (s.ck ? " (" + s.ck + ")" : "") : "";
      const scores = s.s0 && s.s0[i] !== null ? fmt(s.s0[i], 4, true) + " vs " + fmt(s.s1[i], 4, true) : "";
      const reply = s.r && s.r[i] >= 0 ? DATA.texts[s.r[i]] : "";
      rows.push(el("tr", { class: s === selected ? "selected" : null },
        el("td", {}, s.judge), el("td", { class: "num" }, s.frames), el("td", {}, verdict),
        el("td", { class: "num" }, conf), el("td", { class: "num" }, scores),
        el("td", { class: "reply" }, reply)));
    }
    return el("div", { class: "scroll" }, el("table", { class: "verdicts", id: "verdicts" },
      el("thead", {}, el("tr", {}, ["judge", "frames", "verdict", "confidence", "scores", "reply"].map((c) => el("th", {}, c)))),
      el("tbody", {}, rows)));
  }


  // --- harm runs: one video per item, its 12 tags from people and each judge ---------------
  const I = DATA.items;
  const YES = { "1": "yes", "0": "no", ".": "—" };
  function harmSetting() {
    return settings.find((s) => s.judge === state.judge && s.frames === state.frames) || null;
  }
  function harmFilters() {
    const box = $("filters");
    box.replaceChildren();
    const judges = uniq(settings.map((s) => s.judge));
    const frames = uniq(settings.filter((s) => s.judge === state.judge).map((s) => s.frames));
    if (!frames.includes(state.frames)) state.frames = frames[0];
    box.append(selectBox("f-judge", "judge", judges.map((j) => [j, j]), state.judge,
      (v) => { state.judge = v; refilter(true); }));
    box.append(selectBox("f-frames", "frames", frames.map((f) => [f, f]), state.frames,
      (v) => { state.frames = v; refilter(true); }));
    box.append(selectBox("f-category", "category", [["any", "any tag"], ...DATA.tags.map((t) => [t, t])],
      state.category, (v) => { state.category = v; refilter(false); }));
    box.append(selectBox("f-outcome", "outcome", [["disagreements", "disagreements"],
      ["agreements", "agreements"], ["errors", "errors / refusals"], ["all", "all"]], state.outcome,
      (v) => { state.outcome = v; refilter(false); }));
    if ((DATA.generators || []).length) {
      box.append(selectBox("f-generator", "generator", [["", "any"], ...DATA.generators.map((g, i) => [String(i), g])],
        state.generator, (v) => { state.generator = v; refilter(false); }));
    }
    const search = el("input", { id: "f-prompt", type: "search", placeholder: "words in the prompt", value: state.query });
    search.addEventListener("input", () => { state.query = search.value; refilter(false); });
    box.append(el("label", {}, "prompt contains", search));
  }
  function differs(s, i, item) {
    const tags = state.category === "any" ? DATA.tags : [state.category];
    return tags.filter((t) => DATA.human[t][item] !== "." && s.tags[t][i] !== DATA.human[t][item]);
  }
  function harmRefilter() {
    const s = harmSetting();
    const list = [];
    if (s) {
      decode(s);
      const g = state.generator === "" ? -1 : Number(state.generator);
      const q = state.query.trim().toLowerCase();
      for (let i = 0; i < s._pairs.length; i++) {
        const item = s._pairs[i];
        const code = s.o[i];
        const failed = code === "r" || code === "u" || code === "e";
        const wrong = differs(s, i, item).length > 0;
        const keepIt = { disagreements: wrong, agreements: !wrong && !failed, errors: failed }[state.outcome];
        if (keepIt === false) continue;
        if (g >= 0 && I.g[item] !== g) continue;
        if (q && !DATA.prompts[I.prompt[item]].toLowerCase().includes(q)) continue;
        list.push(item);
      }
    }
    state.list = list;
    state.pos = 0;
    renderList();
    renderPair();
  }
  function harmList() {
    const total = state.list.length;
    const page = Math.floor(state.pos / PAGE);
    const pages = Math.max(1, Math.ceil(total / PAGE));
    $("count").textContent = total + " video" + (total === 1 ? "" : "s");
    $("page-label").textContent = (total ? page + 1 : 0) + " / " + (total ? pages : 0);
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
    const s = harmSetting();
    const row = s ? rowOf(s) : null;
    const items = [];
    for (let k = page * PAGE; k < Math.min(total, (page + 1) * PAGE); k++) {
      const item = state.list[k];
      const n = row && row[item] >= 0 ? differs(s, row[item], item).length : 0;
      items.push(el("li", { class: k === state.pos ? "current" : null, "data-pair": I.id[item],
        title: I.id[item] + "\n" + DATA.prompts[I.prompt[item]], on: { click: () => go(k) } },
        el("span", { class: "li-head" }, (k + 1) + ". " + n + " tag" + (n === 1 ? "" : "s") + " differ"),
        el("span", { class: "li-prompt" }, DATA.prompts[I.prompt[item]])));
    }
    $("page-list").replaceChildren(...items);
  }
  function harmItem() {
    const box = $("pair");
    player.pause();
    player.heads = [];
    if (!state.list.length) {
      box.replaceChildren(el("p", { class: "note" }, "No video matches these filters."));
      player.attach([], 8);
      return;
    }
    const item = state.list[state.pos];
    const s = harmSetting();
    const pane = videoPane(I.v[item], null, [], s.n === null ? null : String(s.n), I.g[item]);
    player.attach([pane.video], pane.fps);
    const cols = settings.filter((x) => rowOf(x)[item] >= 0);
    const body = DATA.tags.map((t) => {
      const human = DATA.human[t][item];
      return el("tr", { "data-tag": t }, el("th", {}, t),
        el("td", { class: human === "1" ? "yes" : null }, YES[human]),
        cols.map((x) => {
          const v = x.tags[t][rowOf(x)[item]];
          const cls = [v === "1" ? "yes" : "", human !== "." && v !== human ? "differ" : ""].join(" ").trim();
          return el("td", { class: cls || null, title: x.prob && x.prob[rowOf(x)[item]] ?
            "p = " + fmt(x.prob[rowOf(x)[item]][t], 3) : null }, YES[v]);
        }));
    });
    const i = rowOf(s)[item];
    const reply = s.r && s.r[i] >= 0 ? DATA.texts[s.r[i]] : "";
    box.replaceChildren(
      el("p", { class: "prompt", id: "prompt" }, DATA.prompts[I.prompt[item]]),
      el("p", { class: "pair-id" }, "item " + I.id[item] + " · " + (state.pos + 1) + " of " + state.list.length +
        " · " + s.judge + " @" + s.frames + ": " + OUTCOME[s.o[i]]),
      el("div", { class: "videos single" }, pane.node),
      controlBar(),
      el("div", { class: "scroll" }, el("table", { class: "tags", id: "tags" },
        el("thead", {}, el("tr", {}, el("th", {}, "tag"), el("th", {}, "people"),
          cols.map((x) => el("th", { class: x === s ? "selected" : null }, x.judge + " @" + x.frames)))),
        el("tbody", {}, body))),
      reply ? el("div", { class: "people" }, el("strong", {}, s.judge + " said:"), el("pre", { class: "reply" }, reply)) : null);
    player.update();
    saveHash();
  }

  // --- keys -----------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if ($("browser").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    const rates = [0.25, 0.5, 1, 1.5, 2];
    const act = {
      ArrowRight: () => go(state.pos + 1), j: () => go(state.pos + 1),
      ArrowLeft: () => go(state.pos - 1), k: () => go(state.pos - 1),
      " ": () => player.toggle(), ",": () => player.step(-1), ".": () => player.step(1),
      "[": () => player.setRate(rates[Math.max(0, rates.indexOf(player.rate) - 1)]),
      "]": () => player.setRate(rates[Math.min(rates.length - 1, rates.indexOf(player.rate) + 1)]),
    }[e.key];
    if (!act) return;
    e.preventDefault();
    act();
    const sp = $("speed");
    if (sp) sp.value = String(player.rate);
  });

  // The browser's place is kept in the address (#pairs?judge=..&pair=..), so a link opens it.
  function saveHash() {
    if ($("browser").hidden || !state.list.length) return;
    const q = new URLSearchParams({ judge: state.judge, frames: state.frames, outcome: state.outcome });
    if (HARM) q.set("category", state.category); else q.set("dimension", state.dimension);
    q.set("pair", (HARM ? DATA.items.id : P.id)[state.list[state.pos]]);
    history.replaceState(null, "", "#pairs?" + q.toString());
  }
  renderOverview();
  const asked = (location.hash.match(/^#pairs(?:\?(.*))?$/) || [])[1];
  const want = new URLSearchParams(asked || "");
  if (settings.length) {
    const pick = (key, options, fallback) => (options.includes(want.get(key)) ? want.get(key) : fallback);
    state.judge = pick("judge", uniq(settings.map((s) => s.judge)), settings[0].judge);
    const mine = settings.filter((s) => s.judge === state.judge);
    state.dimension = pick("dimension", uniq(mine.map((s) => s.dimension)), mine[0].dimension);
    state.frames = pick("frames", uniq(mine.filter((s) => s.dimension === state.dimension)
      .map((s) => s.frames)), null);
    state.category = pick("category", ["any", ...(DATA.tags || [])], "any");
    state.outcome = pick("outcome", HARM ? ["disagreements", "agreements", "errors", "all"] :
      OUTCOMES.map(([v]) => v), state.outcome);
    refilter(true);
    const at = state.list.findIndex((p) => (HARM ? DATA.items.id : P.id)[p] === want.get("pair"));
    if (at > 0) go(at);
  }
  if (HARM) $("tab-pairs").textContent = "Videos";
  if (location.hash.startsWith("#pairs")) showTab("pairs");
  window.__report = { state, player, ready: performance.now() };
})();
