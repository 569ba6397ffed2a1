// saepipe's feature browser: works from file:// (data arrives as script files that call back)
// and under `saepipe serve` (which adds the "Test your text" view and its API).
'use strict';
(function () {
  const INDEX = window.SAEPIPE_INDEX;
  const main = document.getElementById('main');
  const tip = document.getElementById('tip');
  const SIDES = Object.keys(INDEX.saes);
  const served = location.protocol === 'http:' || location.protocol === 'https:';

  // ---- data loading: one script per shard of features, the vocabulary on demand ----
  const pending = {};
  function loadScript(key, src) {
    if (!pending[key]) {
      pending[key] = new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = src;
        script.onerror = () => { delete pending[key]; reject(new Error('cannot load ' + src)); };
        document.head.appendChild(script);
        pending[key + ':resolve'] = resolve;
      });
    }
    return pending[key];
  }
  window.saepipeShard = (sae, shard, records) => {
    const resolve = pending[`shard/${sae}/${shard}:resolve`];
    if (resolve) resolve(records);
  };
  window.saepipeVocab = (tokens) => {
    const resolve = pending['vocab:resolve'];
    if (resolve) resolve(tokens);
  };
  // Shards and the vocabulary arrive gzip-compressed in base64; the browser inflates them.
  async function inflate(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(stream).text());
  }
  const decoded = {};
  function loadData(key, src) {
    if (!decoded[key]) {
      decoded[key] = loadScript(key, src).then(inflate);
      decoded[key].catch(() => { delete decoded[key]; });
    }
    return decoded[key];
  }
  let vocab = null;
  async function loadVocab() {
    if (!vocab) vocab = await loadData('vocab', 'data/vocab.js');
    return vocab;
  }
  async function loadRecord(sae, id) {
    const size = INDEX.shard_size;
    const shard = Math.floor(id / size);
    const records = await loadData(`shard/${sae}/${shard}`, `data/${sae}/${String(shard).padStart(4, '0')}.js`);
    return records[id - shard * size];
  }

  // ---- helpers ----
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const fmt = (x, digits) => (x === null || x === undefined || Number.isNaN(x)) ? '—' : Number(x).toFixed(digits);
  const pct = (x) => (x === null || x === undefined) ? '—' : (x * 100 < 0.01 && x > 0 ? '<0.01%' : (x * 100).toFixed(x < 0.001 ? 3 : 2) + '%');
  const dataLabel = (side) => INDEX.datasets[side] || side;
  // Whitespace made visible: ↵ for newlines, ⇥ for tabs, and long runs of spaces (code indentation) as ␣×n.
  function visible(text) {
    return esc(text).replace(/\n/g, '<span class="ws">↵</span>').replace(/\t/g, '<span class="ws">⇥</span>')
      .replace(/\r/g, '<span class="ws">␍</span>').replace(/ {3,}/g, (run) => `<span class="ws">␣×${run.length}</span>`);
  }
  function featureLink(sae, id, text) {
    const table = INDEX.saes[sae];
    const title = table && table.label[id] !== undefined ? ` title="${esc(table.label[id])}"` : '';
    return `<a href="#${sae}/${id}"${title}>${esc(text || `${sae}/${id}`)}</a>`;
  }
  function effectText(ratio) {
    if (ratio === null || ratio === undefined) return '';
    if (Math.abs(ratio) >= 20) return 'fires on ' + dataLabel(ratio > 0 ? 'A' : 'B') + ' only';
    const times = Math.pow(2, Math.abs(ratio));
    if (times < 1.1) return 'about equally active on both datasets';
    return times.toFixed(1) + '× more active on ' + dataLabel(ratio >= 0 ? 'A' : 'B');
  }
  function classBadge(cls) {
    const kind = cls === 'dead' ? 'dead' : cls.startsWith(dataLabel('A') + '-') ? 'sel-A' : cls.startsWith(dataLabel('B') + '-') ? 'sel-B' : '';
    return `<span class="badge ${kind}">${esc(cls)}</span>`;
  }

  // ---- the feature list: search, sort, filters, keyboard selection ----
  const rows = [];
  for (const sae of SIDES) {
    const t = INDEX.saes[sae];
    for (let i = 0; i < t.features; i++) {
      rows.push({
        sae, id: i, label: t.label[i], otherLabel: t.other_label ? t.other_label[i] : null, cls: t.class[i],
        freqA: t.freq_A[i], freqB: t.freq_B ? t.freq_B[i] : null, ratio: t.log2_ratio ? t.log2_ratio[i] : null,
        match: t.match ? t.match[i] : null, matchCos: t.match_cos ? t.match_cos[i] : null,
        ablation: t.ablation[i], tokens: t.tokens[i],
        search: (t.label[i] + ' ' + (t.other_label ? t.other_label[i] : '') + ' ' + t.tokens[i].join(' ')).toLowerCase(),
      });
    }
  }
  const state = { query: '', sae: 'all', cls: 'all', sort: 'freq', descending: true, shown: 200, selected: 0, list: [] };
  const sorters = {
    id: (r) => r.id, freq: (r) => (r.sae === 'B' && r.freqB !== null ? r.freqB : r.freqA),
    selectivity: (r) => (r.ratio === null ? 0 : (r.sae === 'A' ? r.ratio : -r.ratio)),
    match: (r) => (r.matchCos === null ? -1 : r.matchCos), ablation: (r) => (r.ablation === null ? -Infinity : r.ablation),
  };
  function filtered() {
    const q = state.query.trim().toLowerCase();
    let list = rows;
    if (state.sae !== 'all') list = list.filter((r) => r.sae === state.sae);
    if (state.cls !== 'all') list = list.filter((r) => (state.cls === 'selective' ? r.cls.endsWith('-selective') : r.cls === state.cls));
    const idMatch = q.match(/^(?:([ab])\s*[/#:]?\s*)?#?(\d+)$/);
    if (idMatch) {
      const id = Number(idMatch[2]);
      list = list.filter((r) => r.id === id && (!idMatch[1] || r.sae === idMatch[1].toUpperCase()));
    } else if (q) {
      const words = q.split(/\s+/);
      list = list.filter((r) => words.every((w) => r.search.includes(w)));
    }
    const key = sorters[state.sort];
    const sign = state.descending ? -1 : 1;
    return list.slice().sort((a, b) => sign * (key(a) - key(b)) || (a.sae < b.sae ? -1 : a.sae > b.sae ? 1 : a.id - b.id));
  }
  const columns = [
    ['id', 'Feature', ''], ['label', 'Label', ''], ['freq', 'Frequency on own data', 'num'], ['selectivity', 'Selectivity', 'num wide'],
    ['match', 'Match cos', 'num wide'], ['ablation', 'Ablation', 'num wide'],
  ];
  function renderList(keepFocus) {
    state.list = filtered();
    const options = (values, current) => values.map(([v, t]) => `<option value="${v}"${v === current ? ' selected' : ''}>${esc(t)}</option>`).join('');
    const classes = [['all', 'every class'], ['selective', 'selective'], ['shared', 'shared'], ['dead', 'dead']]
      .concat(SIDES.length > 1 ? [[`${dataLabel('A')}-selective`, `${dataLabel('A')}-selective`], [`${dataLabel('B')}-selective`, `${dataLabel('B')}-selective`]] : []);
    const head = columns.map(([key, title, cls]) => {
      const sortable = key !== 'label';
      const sorted = state.sort === key ? ` aria-sort="${state.descending ? 'descending' : 'ascending'}"` : '';
      return `<th class="${cls}"${sortable ? ` data-sort="${key}"` : ''}${sorted}>${title}</th>`;
    }).join('');
    const body = state.list.slice(0, state.shown).map((r, k) => {
      const freq = r.sae === 'B' && r.freqB !== null ? r.freqB : r.freqA;
      return `<tr data-key="${r.sae}/${r.id}"${k === state.selected ? ' class="selected"' : ''}>` +
        `<td>${featureLink(r.sae, r.id)}</td><td class="label">${classBadge(r.cls)} ${esc(r.label.replace(/^[^:]*-selective: |^shared: /, ''))}</td>` +
        `<td class="num">${pct(freq)}</td><td class="num wide">${r.ratio === null ? '—' : fmt(r.sae === 'A' ? r.ratio : -r.ratio, 2)}</td>` +
        `<td class="num wide">${r.match === null ? '—' : fmt(r.matchCos, 2)}</td><td class="num wide">${r.ablation === null ? '—' : fmt(r.ablation, 4)}</td></tr>`;
    }).join('');
    const more = state.list.length > state.shown ? `<button class="more" id="more">Show more (${state.list.length - state.shown} left)</button>` : '';
    main.innerHTML =
      `<div class="controls"><input type="search" id="q" placeholder="Search labels, tokens or ids (e.g. pass, A/12)  — press /" value="${esc(state.query)}" aria-label="Search features">` +
      (SIDES.length > 1 ? `<select id="sae" aria-label="SAE">${options([['all', 'both SAEs']].concat(SIDES.map((s) => [s, `SAE ${s} (${dataLabel(s)})`])), state.sae)}</select>` : '') +
      `<select id="cls" aria-label="Class">${options(classes, state.cls)}</select>` +
      `<select id="sort" aria-label="Sort by">${options([['freq', 'sort: frequency'], ['selectivity', 'sort: selectivity'], ['match', 'sort: match cosine'], ['ablation', 'sort: ablation effect'], ['id', 'sort: id']], state.sort)}</select></div>` +
      `<p class="muted" id="count">${state.list.length} of ${rows.length} features. Frequency: the share of the SAE's own dataset's tokens it fires on${SIDES.length > 1 ? "; selectivity: log2 of its mean activation there over the other dataset's" : ''}. ` +
      `Keys: <kbd>/</kbd> search, <kbd>↑</kbd><kbd>↓</kbd> move, <kbd>Enter</kbd> open.</p>` +
      `<table class="features"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${more}`;
    const q = document.getElementById('q');
    q.addEventListener('input', () => { state.query = q.value; state.shown = 200; state.selected = 0; renderList(true); });
    if (keepFocus) { q.focus(); q.setSelectionRange(q.value.length, q.value.length); }
    for (const id of ['sae', 'cls', 'sort']) {
      const select = document.getElementById(id);
      if (!select) continue;
      select.addEventListener('change', () => {
        if (id === 'sort') { state.sort = select.value; state.descending = select.value !== 'id'; } else state[id] = select.value;
        state.shown = 200; state.selected = 0; renderList();
      });
    }
    for (const th of main.querySelectorAll('th[data-sort]')) {
      th.addEventListener('click', () => {
        const key = th.dataset.sort;
        state.descending = state.sort === key ? !state.descending : key !== 'id';
        state.sort = key; renderList();
      });
    }
    for (const tr of main.querySelectorAll('tbody tr')) tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.hash = tr.dataset.key; });
    const button = document.getElementById('more');
    if (button) button.addEventListener('click', () => { state.shown += 500; renderList(); });
  }
  function moveSelection(step) {
    const count = Math.min(state.list.length, state.shown);
    if (!count) return;
    state.selected = Math.max(0, Math.min(count - 1, state.selected + step));
    const rowsInTable = main.querySelectorAll('tbody tr');
    rowsInTable.forEach((tr, k) => tr.classList.toggle('selected', k === state.selected));
    rowsInTable[state.selected].scrollIntoView({ block: 'nearest' });
  }

  // ---- a feature's page ----
  function histogramSVG(h) {
    const total = h.counts.reduce((a, b) => a + b, 0);
    if (!total) return '<p class="muted">Never fires here.</p>';
    const peak = Math.max(...h.counts), width = 320, height = 100, bar = width / h.counts.length;
    const bars = h.counts.map((c, k) => {
      const y = c ? Math.max(1, (c / peak) * (height - 14)) : 0;
      return `<rect x="${(k * bar).toFixed(1)}" y="${(height - 14 - y).toFixed(1)}" width="${Math.max(1, bar - 1).toFixed(1)}" height="${y.toFixed(1)}"><title>${fmt(h.max * k / h.counts.length, 3)}–${fmt(h.max * (k + 1) / h.counts.length, 3)}: ${c} tokens</title></rect>`;
    }).join('');
    return `<svg class="hist" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="activation histogram">${bars}` +
      `<text x="0" y="${height - 2}">0</text><text x="${width}" y="${height - 2}" text-anchor="end">${fmt(h.max, 2)}</text></svg>` +
      `<p class="muted">${total.toLocaleString()} firing tokens; peak bin ${peak.toLocaleString()}.</p>`;
  }
  function contextHTML(example, scale) {
    const toks = example.tokens.map((id, k) => {
      const value = example.values[k];
      const alpha = scale > 0 ? Math.min(1, value / scale) : 0;
      const style = value > 0 ? ` style="background: rgba(255, 110, 0, ${(0.12 + 0.78 * alpha).toFixed(2)})"` : '';
      return `<span class="tok${k === example.center ? ' center' : ''}" data-t="${id}" data-v="${value}"${style}>${visible(vocab[id] === undefined ? `<${id}>` : vocab[id])}</span>`;
    }).join('');
    return `<div class="context"><span class="act">${fmt(example.activation, 3)}</span>${toks}</div>`;
  }
  function neighbourList(sae, list, scoreName) {
    if (!list || !list.length) return '<p class="muted">None.</p>';
    const t = INDEX.saes[sae];
    return '<ul class="links">' + list.map((n) => `<li>${featureLink(sae, n.feature)} <span class="muted">${scoreName} ${fmt(n.score, 3)}</span> — ${esc(t.label[n.feature])}</li>`).join('') + '</ul>';
  }
  async function renderFeature(sae, id) {
    const t = INDEX.saes[sae];
    if (!t || !(id >= 0 && id < t.features)) {
      main.innerHTML = `<p class="error">No feature ${esc(sae)}/${esc(id)} in this run.</p><p><a href="#">Back to the list</a></p>`;
      return;
    }
    main.innerHTML = '<p class="muted">Loading…</p>';
    let record;
    try {
      [record] = await Promise.all([loadRecord(sae, id), loadVocab()]);
    } catch (error) {
      main.innerHTML = `<p class="error">${esc(error.message)}</p>`;
      return;
    }
    if (location.hash !== `#${sae}/${id}`) return;
    const other = SIDES.find((s) => s !== sae);
    const scale = Math.max(...record.views.map((v) => v.histogram.max), 1e-9);
    let html = `<div class="pager"><a href="#${sae}/${Math.max(0, id - 1)}" title="previous ([)">← ${id - 1 >= 0 ? id - 1 : ''}</a> · ` +
      `<a href="#${sae}/${Math.min(t.features - 1, id + 1)}" title="next (])">${id + 1 < t.features ? id + 1 : ''} →</a></div>`;
    html += `<h1>SAE ${sae} (${esc(dataLabel(sae))}) · feature ${id}</h1><p>${classBadge(t.class[id])} ${esc(t.label[id])}</p><div class="facts">`;
    for (const side of SIDES) html += `<span>frequency on ${esc(dataLabel(side))}: <b>${pct(t['freq_' + side][id])}</b></span>`;
    if (t.log2_ratio) html += `<span>${esc(effectText(t.log2_ratio[id]))} (log2 ratio ${fmt(t.log2_ratio[id], 2)})</span>`;
    html += `<span>max activation <b>${fmt(scale, 3)}</b></span>`;
    if (t.ablation[id] !== null) html += `<span>ablation effect <b>${t.ablation[id] >= 0 ? '+' : ''}${fmt(t.ablation[id], 4)}</b> nats <span class="muted">(next-token loss change when removed, top contexts)</span></span>`;
    html += '</div>';
    if (other && t.match) {
      const o = INDEX.saes[other];
      html += `<p>Matched feature in SAE ${other} (one-to-one, decoder cosine ${fmt(t.match_cos[id], 3)}${t.match_cos[id] >= INDEX.matching.threshold ? ', shared' : ', below the sharing threshold ' + INDEX.matching.threshold}): ` +
        `${featureLink(other, t.match[id])} — ${esc(o.label[t.match[id]])}` +
        (t.best[id] !== t.match[id] ? `<br>Closest by cosine: ${featureLink(other, t.best[id])} (${fmt(t.best_cos[id], 3)}) — ${esc(o.label[t.best[id]])}` : '') + '</p>';
    }
    html += '<div class="columns">';
    for (const view of record.views.slice().sort((a, b) => (a.data === sae ? -1 : b.data === sae ? 1 : 0))) {
      const label = view.data === sae ? t.label[id] : (t.other_label ? t.other_label[id] : '');
      html += `<section><h2>On ${esc(dataLabel(view.data))} (${view.data})</h2><p class="muted">${esc(label)}</p>`;
      html += '<h3>Activation histogram</h3>' + histogramSVG(view.histogram);
      html += '<h3>Top tokens</h3><div class="chips">' + (view.top_tokens.map((x) => `<span title="${fmt(x.share * 100, 0)}% of sampled firing tokens">${visible(vocab[x.token] || '')} ${fmt(x.share * 100, 0)}%</span>`).join('') || '<span>none</span>') + '</div>';
      html += '<h3>Top activations</h3>' + (view.top.map((e) => contextHTML(e, scale)).join('') || '<p class="muted">None.</p>');
      for (const band of view.bands) {
        if (!band.examples.length) continue;
        html += `<h3>Interval ${fmt(band.low, 2)}–${fmt(band.high, 2)} <span class="muted">(${fmt(band.share * 100, 1)}% of firing tokens)</span></h3>` + band.examples.map((e) => contextHTML(e, scale)).join('');
      }
      html += '<h3>Co-firing features</h3>' + neighbourList(sae, view.co_firing, 'Jaccard');
      html += '</section>';
    }
    html += '</div><div class="columns"><section><h2>Nearest features (decoder cosine)</h2>' + neighbourList(sae, record.nearest, 'cos') + '</section>';
    html += `<section><h2>Logit effect</h2><p class="muted">Decoder row · W_U, final norm ignored${INDEX.logit_caveat && INDEX.logit_caveat[sae] ? '; ' + esc(INDEX.logit_caveat[sae]) : ''}.</p>` +
      '<h3>Promotes</h3><div class="chips">' + record.promoted.map((x) => `<span>${visible(vocab[x.token] || '')} ${fmt(x.logit, 2)}</span>`).join('') + '</div>' +
      '<h3>Suppresses</h3><div class="chips">' + record.suppressed.map((x) => `<span>${visible(vocab[x.token] || '')} ${fmt(x.logit, 2)}</span>`).join('') + '</div></section></div>';
    html += '<p class="muted">Keys: <kbd>[</kbd> <kbd>]</kbd> previous/next, <kbd>m</kbd> matched feature, <kbd>Esc</kbd> back to the list. Hover or tap a token for its activation.</p>';
    main.innerHTML = html;
    document.title = `SAE ${sae} feature ${id} — saepipe`;
  }

  // ---- the feature map: decoder directions in 2-D ----
  const SELECTIVITY = [
    [3, Infinity, 'rgb(20,70,170)'], [1, 3, 'rgb(110,160,230)'], [-1, 1, 'rgb(165,165,165)'], [-3, -1, 'rgb(245,160,90)'], [-Infinity, -3, 'rgb(200,80,0)'],
  ];
  function selectivityColour(ratio) {
    const bin = SELECTIVITY.find(([low, high]) => ratio >= low && ratio < high);
    return bin ? bin[2] : 'rgb(165,165,165)';
  }
  function renderMap() {
    const map = INDEX.map;
    if (!map) { main.innerHTML = '<p class="muted">This run has no feature map (rerun its viz stage).</p>'; return; }
    const compared = SIDES.length > 1 && INDEX.saes[SIDES[0]].log2_ratio;
    const legend = compared
      ? SELECTIVITY.map(([low, high, colour], k) => `<span style="color:${colour}">●</span> ${esc(['≥ 8× more active on ' + dataLabel('A'), '2–8× on ' + dataLabel('A'), 'within 2×', '2–8× on ' + dataLabel('B'), '≥ 8× more active on ' + dataLabel('B')][k])}`).join(' &nbsp; ')
      : '';
    main.innerHTML = `<h1>Feature map</h1><p class="muted">${esc(map.method)} Click a point to open its feature.</p>` +
      `<div class="controls"><select id="layout" aria-label="Layout"><option value="umap">UMAP</option><option value="pca">PCA</option></select>` +
      (compared ? '<select id="colour" aria-label="Colour"><option value="selectivity">colour: selectivity</option><option value="sae">colour: SAE</option></select>' : '') + '</div>' +
      `<p class="muted" id="legend">${legend}</p><div class="map-wrap"><canvas class="map" id="map" width="900" height="900"></canvas></div><p id="map-hover" class="muted">&nbsp;</p>`;
    const canvas = document.getElementById('map'), ctx = canvas.getContext('2d');
    let points = [];
    const draw = () => {
      const layout = document.getElementById('layout').value;
      const colourBy = compared ? document.getElementById('colour').value : 'sae';
      points = [];
      for (const sae of SIDES) {
        const xy = map.saes[sae] && map.saes[sae][layout]; if (!xy) continue;
        const t = INDEX.saes[sae];
        for (let i = 0; i < t.features; i++) {
          if (t.class[i] === 'dead') continue;
          const colour = colourBy === 'sae' ? (sae === 'A' ? 'rgba(11,87,208,0.55)' : 'rgba(220,100,0,0.55)') : selectivityColour(t.log2_ratio[i]);
          points.push({ sae, id: i, x: xy[2 * i], y: xy[2 * i + 1], colour, shared: t.class[i] === 'shared' });
        }
      }
      document.getElementById('legend').innerHTML = colourBy === 'sae'
        ? SIDES.map((s, k) => `<span style="color:${k ? 'rgb(220,100,0)' : 'rgb(11,87,208)'}">●</span> SAE ${s} (${esc(dataLabel(s))})`).join(' &nbsp; ') : legend;
      const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      for (const p of points) { p.px = 20 + (p.x - x0) / (x1 - x0 || 1) * 860; p.py = 880 - (p.y - y0) / (y1 - y0 || 1) * 860; }
      ctx.clearRect(0, 0, 900, 900);
      // Shared features first, so the selective ones are drawn over them.
      for (const p of points.filter((q) => q.shared).concat(points.filter((q) => !q.shared))) {
        ctx.fillStyle = p.colour;
        ctx.fillRect(p.px - 1.5, p.py - 1.5, 3, 3);
      }
    };
    draw();
    for (const id of ['layout', 'colour']) { const el = document.getElementById(id); if (el) el.addEventListener('change', draw); }
    const nearest = (event) => {
      const rect = canvas.getBoundingClientRect();
      const cx = (event.clientX - rect.left) * 900 / rect.width, cy = (event.clientY - rect.top) * 900 / rect.height;
      let best = null, distance = 100;
      for (const p of points) { const d = (p.px - cx) ** 2 + (p.py - cy) ** 2; if (d < distance) { distance = d; best = p; } }
      return best;
    };
    canvas.addEventListener('mousemove', (e) => {
      const p = nearest(e);
      document.getElementById('map-hover').textContent = p ? `${p.sae}/${p.id}: ${INDEX.saes[p.sae].label[p.id]}` : '\u00a0';
    });
    canvas.addEventListener('click', (e) => { const p = nearest(e); if (p) location.hash = `${p.sae}/${p.id}`; });
  }

  // ---- "Test your text" (only under saepipe serve) ----
  function renderTest() {
    if (!served) { main.innerHTML = '<p class="muted">Run <code>saepipe serve RUN</code> to test your own text.</p>'; return; }
    main.innerHTML = '<h1>Test your text</h1><p class="muted">The text is tokenized, run through the model to the hook and through each SAE; every token lists its most active features.</p>' +
      `<textarea id="text" aria-label="Text">${esc(state.testText || '')}</textarea><p><button class="more" id="go">Run</button> <span id="status" class="muted"></span></p><div id="result"></div>`;
    const go = document.getElementById('go');
    go.addEventListener('click', async () => {
      const text = document.getElementById('text').value;
      state.testText = text;
      const status = document.getElementById('status'), result = document.getElementById('result');
      status.textContent = 'Running…'; result.innerHTML = '';
      try {
        const started = performance.now();
        const response = await fetch('api/activations', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text }) });
        const body = await response.json();
        if (!response.ok) throw new Error(body.error || response.statusText);
        status.textContent = `${body.tokens.length} tokens in ${Math.round(performance.now() - started)} ms`;
        const header = `<div class="token-row head"><span class="t">token</span>${SIDES.map((s) => `<span class="f">SAE ${s} (${esc(dataLabel(s))})</span>`).join('')}</div>`;
        result.innerHTML = header + body.tokens.map((token, k) => {
          const cells = SIDES.map((side) => {
            const features = body.features[k].filter((f) => f.sae === side).slice(0, 5)
              .map((f) => `${featureLink(f.sae, f.feature)} <span class="muted">${fmt(f.activation, 2)}</span>`).join(', ');
            return `<span class="f">${features || '<span class="muted">none fires</span>'}</span>`;
          }).join('');
          return `<div class="token-row"><span class="t">${visible(token)}</span>${cells}</div>`;
        }).join('');
      } catch (error) {
        status.innerHTML = `<span class="error">${esc(error.message)}</span>`;
      }
    });
  }

  // ---- routing and keys ----
  function route() {
    tip.hidden = true;
    const hash = decodeURIComponent(location.hash.slice(1));
    const feature = hash.match(/^([A-Za-z]+)\/(\d+)$/);
    if (feature) return renderFeature(feature[1], Number(feature[2]));
    if (hash === 'map') return renderMap();
    if (hash === 'test') return renderTest();
    document.title = 'saepipe feature browser';
    renderList();
  }
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (e) => {
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement.tagName);
    const hash = location.hash.slice(1), feature = hash.match(/^([A-Za-z]+)\/(\d+)$/);
    if (e.key === 'Escape') { if (typing) document.activeElement.blur(); else if (hash) location.hash = ''; return; }
    if (!feature && !hash) {
      if (e.key === '/' && !typing) { e.preventDefault(); document.getElementById('q').focus(); return; }
      if (e.key === 'ArrowDown' || (!typing && e.key === 'j')) { e.preventDefault(); moveSelection(1); return; }
      if (e.key === 'ArrowUp' || (!typing && e.key === 'k')) { e.preventDefault(); moveSelection(-1); return; }
      if (e.key === 'Enter' && state.list[state.selected]) { const r = state.list[state.selected]; location.hash = `${r.sae}/${r.id}`; }
      return;
    }
    if (feature && !typing) {
      const [sae, id] = [feature[1], Number(feature[2])], t = INDEX.saes[sae];
      if (!t) return;
      if (e.key === ']' || e.key === 'ArrowRight') location.hash = `${sae}/${Math.min(t.features - 1, id + 1)}`;
      if (e.key === '[' || e.key === 'ArrowLeft') location.hash = `${sae}/${Math.max(0, id - 1)}`;
      if (e.key === 'm' && t.match) location.hash = `${SIDES.find((s) => s !== sae)}/${t.match[id]}`;
    }
  });
  // A token's activation on hover, or on tap where there is no hover.
  function showTip(target) {
    const tok = target.closest && target.closest('.tok');
    if (!tok) { tip.hidden = true; return; }
    tip.textContent = `${JSON.stringify(vocab && tok.dataset.t !== undefined ? vocab[Number(tok.dataset.t)] : tok.textContent)}  activation ${Number(tok.dataset.v).toFixed(3)}`;
    const rect = tok.getBoundingClientRect();
    tip.hidden = false;
    tip.style.left = Math.max(4, Math.min(window.scrollX + rect.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 4)) + 'px';
    tip.style.top = (window.scrollY + rect.bottom + 4) + 'px';
  }
  document.addEventListener('mouseover', (e) => showTip(e.target));
  document.addEventListener('click', (e) => { if (e.target.closest && e.target.closest('.tok')) showTip(e.target); });

  document.getElementById('run').textContent = INDEX.title;
  if (served) document.getElementById('test-link').hidden = false;
  route();
})();
