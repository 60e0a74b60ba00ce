// The embeddings view's tiles on the client: the answers of /embedding_tile for the record
// shown (at most 600 kept), asked for the tiles on screen at the level of the view's zoom;
// while a finer tile loads, the coarser one already held is drawn in its place.

import { LRU } from "../common.js";
import { errorText } from "./toolkit.js";
import { ancestors, levelFor, tileKey, visibleTiles } from "./embeddings_parts.js";

/** Points of a tile answer, with their class per colouring, in drawing order. */
function prepare(answer) {
  answer.points = answer.index.map((index, k) => ({
    index, x: answer.x[k], y: answer.y[k],
    label: answer.label ? answer.label[k] : null,
    prediction: answer.prediction ? answer.prediction[k] : null,
    probability: answer.probability ? answer.probability[k] : null,
    tile: answer, // whose thumbnail sheet draws it
  }));
  return answer;
}

/**
 * The tiles of the record shown: `reset(info, signal)` starts on a record (/embedding_info's
 * answer; its fetches end with `signal`), `onScreen(view)` gives `{level, answers, missing}`
 * for a view and asks for the missing tiles; `onTile()` runs when one arrives, `onError(text)`
 * when one fails.
 */
export function tileStore(api, { stats, onTile, onError }) {
  let tiles = new LRU(600); // tile key -> answer
  const pending = new Set();
  let shown = null; // { info, signal }

  /** The answer for tile t, or the nearest ancestor answer that holds all of its points; null when none yet. */
  function resolved(t) {
    const own = tiles.get(tileKey(t));
    if (own) return own;
    for (const a of ancestors(t)) {
      const answer = tiles.get(tileKey(a));
      if (answer && answer.complete) return answer;
    }
    return null;
  }

  function fetchTile(t) {
    const key = tileKey(t);
    if (pending.has(key)) return;
    pending.add(key);
    stats.fetches++;
    const mine = shown;
    const { info, signal } = mine;
    api.fetchJSON("embedding_tile", { run: info.run, tag: info.tag, step: info.step, ...t }, signal).then((answer) => {
      pending.delete(key);
      if (shown !== mine) return;
      tiles.set(key, prepare(answer));
      onTile();
    }).catch((error) => {
      pending.delete(key);
      if (!signal || !signal.aborted) onError(errorText(error));
    });
  }

  return {
    reset(info, signal) {
      shown = { info, signal };
      tiles = new LRU(600);
      pending.clear();
    },
    /** The answers to draw for `view` (one per tile, coarser ones standing in), asking for the missing tiles of its level. */
    onScreen(view) {
      const { info } = shown;
      const level = levelFor(view, info.bounds, info.max_level);
      const answers = new Map();
      let missing = 0;
      for (const t of visibleTiles(view, info.bounds, level)) {
        let answer = resolved(t);
        if (!answer) {
          missing++;
          fetchTile(t);
          for (const a of ancestors(t)) { answer = tiles.get(tileKey(a)); if (answer) break; } // coarser, for now
        }
        if (answer) answers.set(`${answer.level}/${answer.tx}/${answer.ty}`, answer);
      }
      return { level, answers: [...answers.values()], missing };
    },
    held: () => tiles.map.size,
  };
}
