/** How every renderer fits a Report section into a platform's room: the list is shortened, the rest stays whole. */

/** A section's lines as a renderer formatted them (escaped, clipped per line). */
export interface SectionLines {
  /** Kept whole: the section's title line (if any) and what happened. */
  lead: string[];
  /** May be shortened to fit; what does not fit is counted in `more(n)`. */
  list: string[];
  /** Kept whole: what to do and the way back. */
  tail: string[];
}

export interface FitOptions {
  /** At most this many list lines, however much room there is. */
  maxItems?: number;
  /** The line standing for `n` list lines left out, e.g. "… and 88 more". */
  more: (n: number) => string;
}

/** Characters of lines joined with "\n". */
export function joinedLength(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + l.length, 0) + Math.max(0, lines.length - 1);
}

/** The fewest characters a section can take while keeping its lead and tail whole. */
export function minimumLength(s: SectionLines, o: FitOptions): number {
  return joinedLength(shown(s, 0, o));
}

/**
 * The lines to show of one section within `budget` characters (joined with "\n"): the lead and the tail whole,
 * as much of the list as fits, then `more(n)` for the rest. Only when even the kept lines do not fit are they
 * cut too (the last line that fits is clipped), so the result never exceeds the budget.
 */
export function fitSection(s: SectionLines, budget: number, o: FitOptions): string[] {
  const max = Math.min(s.list.length, o.maxItems ?? Number.POSITIVE_INFINITY);
  if (minimumLength(s, o) > budget) return fitPlain(shown(s, 0, o), budget);
  // The cost grows with each list line shown; take the most that still fits.
  const keptCost = joinedLength([...s.lead, ...s.tail]) + (s.lead.length + s.tail.length > 0 ? 1 : 0);
  let k = 0;
  let listCost = 0;
  while (k < max) {
    const next = listCost + (k > 0 ? 1 : 0) + s.list[k]!.length;
    const rest = s.list.length - (k + 1);
    const total = keptCost + next + (rest > 0 ? 1 + o.more(rest).length : 0);
    if (total > budget) break;
    listCost = next;
    k++;
  }
  return shown(s, k, o);
}

/**
 * Split `budget` characters between sections: each gets its minimum, the rest is shared fairly among the lists
 * that want more (a short list takes only what it needs and leaves the remainder to longer ones).
 */
export function shareBudget(minimums: readonly number[], wants: readonly number[], budget: number): number[] {
  const out = [...minimums];
  let spare = budget - minimums.reduce((a, b) => a + b, 0);
  let open = wants.map((_, i) => i).filter((i) => wants[i]! > minimums[i]!);
  while (spare > 0 && open.length > 0) {
    const share = Math.floor(spare / open.length);
    if (share === 0) break;
    const still: number[] = [];
    for (const i of open) {
      const give = Math.min(share, wants[i]! - out[i]!);
      out[i]! += give;
      spare -= give;
      if (out[i]! < wants[i]!) still.push(i);
    }
    open = still;
  }
  return out;
}

/** The lead, the first `k` list lines, the "more" line when some are left out, and the tail. */
function shown(s: SectionLines, k: number, o: FitOptions): string[] {
  const rest = s.list.length - k;
  return [...s.lead, ...s.list.slice(0, k), ...(rest > 0 ? [o.more(rest)] : []), ...s.tail];
}

/** Last resort: lines in order while they fit, the last one clipped to the room left. */
function fitPlain(lines: string[], budget: number): string[] {
  const out: string[] = [];
  let used = 0;
  for (const line of lines) {
    const sep = out.length > 0 ? 1 : 0;
    const room = budget - used - sep;
    if (line.length <= room) {
      out.push(line);
      used += sep + line.length;
      continue;
    }
    if (room > 1) out.push(clipTo(line, room));
    break;
  }
  return out;
}

/** Cut to at most `max` UTF-16 units, never through a surrogate pair, marking the cut with "…". */
export function clipTo(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}
