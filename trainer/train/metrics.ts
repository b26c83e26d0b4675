/** CTR metrics: AUC (ties count half), LogLoss (clipped), GAUC (per-user AUC weighted by the user's samples). */

/** Area under the ROC curve by ranks; NaN when one class is absent. */
export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const midRank = (i + j) / 2 + 1; // tied scores share the mean rank
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] > 0.5) {
        positives++;
        rankSum += midRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function logloss(labels: ArrayLike<number>, scores: ArrayLike<number>, eps = 1e-7): number {
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i]));
    total -= labels[i] > 0.5 ? Math.log(p) : Math.log(1 - p);
  }
  return total / labels.length;
}

/** Per-user AUC weighted by each user's sample count; users with a single class are skipped. NaN if none remain. */
export function gauc(labels: ArrayLike<number>, scores: ArrayLike<number>, users: ArrayLike<number>): number {
  const byUser = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byUser.get(users[i]);
    if (list) list.push(i);
    else byUser.set(users[i], [i]);
  }
  let weighted = 0;
  let weight = 0;
  for (const idx of byUser.values()) {
    const a = auc(
      idx.map((i) => labels[i]),
      idx.map((i) => scores[i]),
    );
    if (Number.isNaN(a)) continue;
    weighted += a * idx.length;
    weight += idx.length;
  }
  return weight > 0 ? weighted / weight : Number.NaN;
}
