/**
 * AdamW with state we own: moments per parameter and the step count, bias corrections computed in JS from the
 * step count. tf.train.adam cannot be resumed exactly (setWeights recomputes beta powers with pow, training
 * multiplies them step by step), and it cannot keep part of a parameter fixed. Here a row mask per parameter
 * zeroes the update and the decay of frozen rows, so they stay bit-for-bit unchanged.
 */
import * as tf from "@tensorflow/tfjs-core";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

export interface AdamWState {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  /** [rows, 1] masks: 1 = trainable row, 0 = frozen row. */
  private readonly rowMasks = new Map<string, tf.Tensor>();

  constructor(
    readonly variables: Map<string, tf.Variable>,
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-7;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [name, v] of variables) {
      this.m.set(name, tf.variable(tf.zerosLike(v), false));
      this.v.set(name, tf.variable(tf.zerosLike(v), false));
    }
  }

  /** Only rows where trainableRows[i] is true change (axis 0 of the parameter). */
  freezeRows(name: string, trainableRows: boolean[]): void {
    const v = this.variables.get(name);
    if (!v || v.shape[0] !== trainableRows.length) throw new Error(`cannot mask rows of ${name}`);
    const shape = [trainableRows.length, ...v.shape.slice(1).map(() => 1)];
    this.rowMasks.set(
      name,
      tf.keep(
        tf.tensor(
          trainableRows.map((t) => (t ? 1 : 0)),
          shape,
          "float32",
        ),
      ),
    );
  }

  /** One update with gradients by parameter name at learning rate lr. */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.step++;
    const t = this.step;
    // Bias corrections folded into the step size (as TF's Adam does), from the step count alone.
    const stepSize = (lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const decay = 1 - lr * this.weightDecay;
    tf.tidy(() => {
      for (const [name, p] of this.variables) {
        let g = grads[name];
        if (!g) continue;
        const mask = this.rowMasks.get(name);
        if (mask) g = tf.mul(g, mask);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        let update = tf.div(tf.mul(m1, stepSize), tf.add(tf.sqrt(v1), this.epsilon));
        let kept: tf.Tensor = decay === 1 ? p : tf.mul(p, decay);
        if (mask && decay !== 1) kept = tf.add(tf.mul(kept, mask), tf.mul(p, tf.sub(1, mask)));
        if (mask) update = tf.mul(update, mask);
        p.assign(tf.sub(kept, update));
      }
    });
  }

  getState(): AdamWState {
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const name of this.variables.keys()) {
      moments.set(name, {
        m: Float32Array.from(this.m.get(name)!.dataSync() as Float32Array),
        v: Float32Array.from(this.v.get(name)!.dataSync() as Float32Array),
      });
    }
    return { step: this.step, moments };
  }

  setState(state: AdamWState): void {
    this.step = state.step;
    tf.tidy(() => {
      for (const [name, p] of this.variables) {
        const s = state.moments.get(name);
        if (!s) throw new Error(`optimizer state has no moments for ${name}`);
        this.m.get(name)!.assign(tf.tensor(s.m, p.shape));
        this.v.get(name)!.assign(tf.tensor(s.v, p.shape));
      }
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values(), ...this.rowMasks.values()]) t.dispose();
  }
}
