/**
 * An evaluator for the subset of Bicep that infra/app/alerts.bicep uses to build its rules, so that a test
 * can compute what the template deploys without the Bicep compiler (which nothing this project can reach
 * installs; see test/infra/bicep.test.ts). Supported: `param` (values given by the caller), `var`, and a
 * `resource` whose value is an object or a `[for x in …: …]` array; expressions with string literals and
 * interpolation, numbers, true/false/null, objects and arrays (newline- or comma-separated), member and
 * index access, `?:` (only the chosen branch is evaluated, as ARM's if()), `* + - > < >= <= == != && || !`,
 * lambdas, and the functions loadJsonContent, map, reduce, items, join, string, replace, range, length,
 * empty, contains. `symbol.id` of a declared resource evaluates to `<symbol>.id`. Anything else throws.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

type Tok =
  | { t: "str"; parts: (string | Expr)[] }
  | { t: "num"; v: number }
  | { t: "id"; v: string }
  | { t: "op"; v: string }
  | { t: "nl" };

type Expr =
  | { k: "lit"; v: unknown }
  | { k: "str"; parts: (string | Expr)[] }
  | { k: "id"; name: string }
  | { k: "member"; obj: Expr; name: string }
  | { k: "index"; obj: Expr; index: Expr }
  | { k: "call"; fn: string; args: Expr[] }
  | { k: "obj"; entries: [string, Expr][] }
  | { k: "arr"; items: Expr[] }
  | { k: "for"; item: string; source: Expr; body: Expr }
  | { k: "lambda"; params: string[]; body: Expr }
  | { k: "cond"; test: Expr; yes: Expr; no: Expr }
  | { k: "bin"; op: string; left: Expr; right: Expr }
  | { k: "not"; e: Expr };

const OPS = [
  "=>",
  "==",
  "!=",
  ">=",
  "<=",
  "&&",
  "||",
  "{",
  "}",
  "[",
  "]",
  "(",
  ")",
  ",",
  ":",
  ".",
  "?",
  ">",
  "<",
  "*",
  "+",
  "-",
  "!",
  "=",
  "@",
];

/** Tokens of `src` (comments skipped; string interpolations parsed as expressions). */
function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\n") {
      out.push({ t: "nl" });
      i++;
    } else if (/\s/.test(c)) i++;
    else if (src.startsWith("//", i)) while (i < src.length && src[i] !== "\n") i++;
    else if (src.startsWith("/*", i)) i = src.indexOf("*/", i) + 2;
    else if (src.startsWith("'''", i)) {
      const end = src.indexOf("'''", i + 3);
      out.push({ t: "str", parts: [src.slice(i + 3, end)] });
      i = end + 3;
    } else if (c === "'") {
      const parts: (string | Expr)[] = [];
      let text = "";
      i++;
      while (src[i] !== "'") {
        if (i >= src.length) throw new Error("unterminated string");
        if (src[i] === "\\") {
          const e = src[i + 1]!;
          text += e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
          i += 2;
        } else if (src.startsWith("${", i)) {
          let depth = 1;
          let j = i + 2;
          while (depth > 0) {
            if (src[j] === "{") depth++;
            else if (src[j] === "}") depth--;
            else if (src[j] === "'") j = skipString(src, j);
            j++;
          }
          if (text) parts.push(text);
          text = "";
          parts.push(parseExpression(tokenize(src.slice(i + 2, j - 1))));
          i = j;
        } else text += src[i++];
      }
      if (text || parts.length === 0) parts.push(text);
      out.push({ t: "str", parts });
      i++;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(src.slice(i))![0];
      out.push({ t: "num", v: Number(m) });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      out.push({ t: "id", v: m });
      i += m.length;
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (!op) throw new Error(`unexpected character ${c}`);
      out.push({ t: "op", v: op });
      i += op.length;
    }
  }
  return out;
}

/** Index of the quote that closes the string opening at `i`. */
function skipString(src: string, i: number): number {
  let j = i + 1;
  while (src[j] !== "'") j += src[j] === "\\" ? 2 : 1;
  return j;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(o = 0): Tok | undefined {
    return this.toks[this.i + o];
  }
  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t?.t === "op" && t.v === v;
  }
  private expect(v: string): void {
    if (!this.isOp(v)) throw new Error(`expected ${v} at token ${this.i}: ${JSON.stringify(this.peek())}`);
    this.i++;
  }
  private skipNewlines(): void {
    while (this.peek()?.t === "nl") this.i++;
  }

  expression(): Expr {
    const test = this.binary(0);
    if (!this.isOp("?")) return test;
    this.i++;
    const yes = this.expression();
    this.expect(":");
    return { k: "cond", test, yes, no: this.expression() };
  }

  private static readonly LEVELS = [["||"], ["&&"], ["==", "!="], [">", "<", ">=", "<="], ["+", "-"], ["*"]];

  private binary(level: number): Expr {
    if (level >= Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      if (t?.t !== "op" || !Parser.LEVELS[level]!.includes(t.v)) return left;
      this.i++;
      left = { k: "bin", op: t.v, left, right: this.binary(level + 1) };
    }
  }

  private unary(): Expr {
    if (this.isOp("!")) {
      this.i++;
      return { k: "not", e: this.unary() };
    }
    return this.postfix(this.primary());
  }

  private postfix(e: Expr): Expr {
    for (;;) {
      if (this.isOp(".")) {
        this.i++;
        const t = this.peek();
        if (t?.t !== "id") throw new Error("expected a member name");
        this.i++;
        e = { k: "member", obj: e, name: t.v };
      } else if (this.isOp("[")) {
        this.i++;
        const index = this.expression();
        this.expect("]");
        e = { k: "index", obj: e, index };
      } else return e;
    }
  }

  private primary(): Expr {
    const t = this.peek();
    if (!t) throw new Error("unexpected end of expression");
    if (t.t === "str") {
      this.i++;
      return { k: "str", parts: t.parts };
    }
    if (t.t === "num") {
      this.i++;
      return { k: "lit", v: t.v };
    }
    if (t.t === "id") {
      if (this.isOp("=>", 1)) {
        this.i += 2;
        return { k: "lambda", params: [t.v], body: this.expression() };
      }
      this.i++;
      if (t.v === "true" || t.v === "false") return { k: "lit", v: t.v === "true" };
      if (t.v === "null") return { k: "lit", v: null };
      if (this.isOp("(")) {
        this.i++;
        return { k: "call", fn: t.v, args: this.list(")") };
      }
      return { k: "id", name: t.v };
    }
    if (this.isOp("(")) {
      // (a, b) => body, or a parenthesized expression.
      const params: string[] = [];
      let j = this.i + 1;
      for (;;) {
        const id = this.toks[j];
        if (id?.t !== "id") break;
        params.push(id.v);
        j++;
        if (this.isOp(",", j - this.i)) {
          j++;
          continue;
        }
        if (this.isOp(")", j - this.i) && this.isOp("=>", j + 1 - this.i)) {
          this.i = j + 2;
          return { k: "lambda", params, body: this.expression() };
        }
        break;
      }
      this.i++;
      const e = this.expression();
      this.expect(")");
      return e;
    }
    if (this.isOp("{")) {
      this.i++;
      const entries: [string, Expr][] = [];
      for (;;) {
        this.skipNewlines();
        if (this.isOp(",")) {
          this.i++;
          continue;
        }
        if (this.isOp("}")) {
          this.i++;
          return { k: "obj", entries };
        }
        const key = this.peek();
        let name: string;
        if (key?.t === "id") name = key.v;
        else if (key?.t === "str" && key.parts.every((p) => typeof p === "string")) name = key.parts.join("");
        else throw new Error("expected an object key");
        this.i++;
        this.expect(":");
        entries.push([name, this.expression()]);
      }
    }
    if (this.isOp("[")) {
      this.i++;
      this.skipNewlines();
      const t2 = this.peek();
      if (t2?.t === "id" && t2.v === "for") {
        this.i++;
        const item = this.peek();
        if (item?.t !== "id") throw new Error("expected a loop variable");
        this.i++;
        const inKw = this.peek();
        if (inKw?.t !== "id" || inKw.v !== "in") throw new Error("expected in");
        this.i++;
        const source = this.expression();
        this.expect(":");
        this.skipNewlines();
        const body = this.expression();
        this.skipNewlines();
        this.expect("]");
        return { k: "for", item: item.v, source, body };
      }
      return { k: "arr", items: this.list("]") };
    }
    throw new Error(`unexpected token ${JSON.stringify(t)}`);
  }

  /** Items up to `close`, separated by commas or newlines (after the opening bracket). */
  private list(close: string): Expr[] {
    const items: Expr[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.isOp(",")) {
        this.i++;
        continue;
      }
      if (this.isOp(close)) {
        this.i++;
        return items;
      }
      items.push(this.expression());
    }
  }
}

function parseExpression(toks: Tok[]): Expr {
  return new Parser(toks).expression();
}

type Scope = Map<string, unknown>;

export interface BicepModel {
  /** Declared parameter names, vars and resources (symbol → type). */
  params: string[];
  vars: string[];
  resources: Map<string, string>;
  /** The value of a var. */
  variable(name: string): unknown;
  /** The evaluated body (or bodies, for a loop) of a resource. */
  resource(symbol: string): unknown;
}

/** Evaluate `path` with the given parameter values (parameters with defaults may be omitted if unused). */
export function evaluateBicep(path: string, params: Record<string, unknown>, source?: string): BicepModel {
  const text = source ?? readFileSync(path, "utf8");
  const declared: {
    params: string[];
    vars: Map<string, Expr>;
    resources: Map<string, { type: string; body: Expr }>;
  } = { params: [], vars: new Map(), resources: new Map() };
  // A declaration starts at column 0; its expression runs until the parser completes one expression.
  const toks = tokenize(text);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const atLineStart = i === 0 || toks[i - 1]!.t === "nl";
    if (!atLineStart || t.t !== "id") continue;
    const next = toks[i + 1];
    if (t.v === "param" && next?.t === "id") declared.params.push(next.v);
    if ((t.v === "var" || t.v === "resource") && next?.t === "id") {
      let j = i + 2;
      let type = "";
      if (t.v === "resource") {
        const ty = toks[j];
        if (ty?.t === "str") type = ty.parts.join("");
        j++;
      }
      if (!(toks[j]?.t === "op" && (toks[j] as { v: string }).v === "=")) continue;
      const rest = toks.slice(j + 1);
      const p = new Parser(rest);
      const expr = p.expression();
      if (t.v === "var") declared.vars.set(next.v, expr);
      else declared.resources.set(next.v, { type, body: expr });
    }
  }

  const cache = new Map<string, unknown>();
  const evaluating = new Set<string>();
  const dir = dirname(path);

  const lookup = (name: string, scope: Scope): unknown => {
    if (scope.has(name)) return scope.get(name);
    if (declared.vars.has(name)) {
      if (!cache.has(name)) {
        if (evaluating.has(name)) throw new Error(`var ${name} refers to itself`);
        evaluating.add(name);
        cache.set(name, evaluate(declared.vars.get(name)!, new Map()));
        evaluating.delete(name);
      }
      return cache.get(name);
    }
    if (declared.params.includes(name)) {
      if (!(name in params)) throw new Error(`no value given for param ${name}`);
      return params[name];
    }
    if (declared.resources.has(name)) return { id: `${name}.id`, name: `${name}.name` };
    throw new Error(`unknown symbol ${name}`);
  };

  const call = (fn: string, args: Expr[], scope: Scope): unknown => {
    const v = (i: number) => evaluate(args[i]!, scope);
    const lambda = (i: number) => {
      const l = args[i]!;
      if (l.k !== "lambda") throw new Error(`${fn}: argument ${i + 1} is not a lambda`);
      return (...values: unknown[]) => {
        const inner = new Map(scope);
        l.params.forEach((p, k) => inner.set(p, values[k]));
        return evaluate(l.body, inner);
      };
    };
    const arr = (x: unknown): unknown[] => {
      if (!Array.isArray(x)) throw new Error(`${fn}: not an array`);
      return x;
    };
    const str = (x: unknown): string => {
      if (typeof x !== "string") throw new Error(`${fn}: not a string: ${JSON.stringify(x)}`);
      return x;
    };
    switch (fn) {
      case "loadJsonContent":
        return JSON.parse(readFileSync(join(dir, str(v(0))), "utf8"));
      case "map": {
        const f = lambda(1);
        return arr(v(0)).map((x) => f(x));
      }
      case "reduce": {
        const f = lambda(2);
        return arr(v(0)).reduce((acc, x) => f(acc, x), v(1));
      }
      case "items": {
        const o = v(0) as Record<string, unknown>;
        return Object.keys(o)
          .sort()
          .map((key) => ({ key, value: o[key] }));
      }
      case "join":
        return arr(v(0))
          .map((x) => str(x))
          .join(str(v(1)));
      case "string": {
        const x = v(0);
        return typeof x === "string" ? x : JSON.stringify(x);
      }
      case "replace":
        return str(v(0)).replaceAll(str(v(1)), str(v(2)));
      case "range":
        return Array.from({ length: v(1) as number }, (_, k) => (v(0) as number) + k);
      case "length": {
        const x = v(0);
        return Array.isArray(x) || typeof x === "string" ? x.length : Object.keys(x as object).length;
      }
      case "empty": {
        const x = v(0);
        return x === null || (typeof x === "object" ? Object.keys(x as object).length === 0 : x === "");
      }
      case "contains": {
        const x = v(0);
        const needle = v(1);
        if (typeof x === "string") return x.includes(str(needle));
        if (Array.isArray(x)) return x.includes(needle);
        return Object.hasOwn(x as object, str(needle));
      }
      default:
        throw new Error(`function ${fn} is not supported by this evaluator`);
    }
  };

  const evaluate = (e: Expr, scope: Scope): unknown => {
    switch (e.k) {
      case "lit":
        return e.v;
      case "str":
        return e.parts.map((p) => (typeof p === "string" ? p : interpolate(evaluate(p, scope)))).join("");
      case "id":
        return lookup(e.name, scope);
      case "member": {
        const o = evaluate(e.obj, scope);
        if (o === null || typeof o !== "object" || !Object.hasOwn(o, e.name))
          throw new Error(`the language expression property '${e.name}' doesn't exist`);
        return (o as Record<string, unknown>)[e.name];
      }
      case "index": {
        const o = evaluate(e.obj, scope) as Record<string | number, unknown>;
        const k = evaluate(e.index, scope) as string | number;
        if (o === null || typeof o !== "object" || !Object.hasOwn(o, k))
          throw new Error(`index ${String(k)} does not exist`);
        return o[k];
      }
      case "call":
        return call(e.fn, e.args, scope);
      case "obj":
        return Object.fromEntries(e.entries.map(([k, v]) => [k, evaluate(v, scope)]));
      case "arr":
        return e.items.map((x) => evaluate(x, scope));
      case "for": {
        const src = evaluate(e.source, scope);
        if (!Array.isArray(src)) throw new Error("for over a non-array");
        return src.map((x) => evaluate(e.body, new Map(scope).set(e.item, x)));
      }
      case "lambda":
        throw new Error("a lambda outside a function argument");
      case "cond":
        return evaluate(e.test, scope) === true ? evaluate(e.yes, scope) : evaluate(e.no, scope);
      case "not":
        return !(evaluate(e.e, scope) as boolean);
      case "bin": {
        if (e.op === "&&")
          return (evaluate(e.left, scope) as boolean) && (evaluate(e.right, scope) as boolean);
        if (e.op === "||")
          return (evaluate(e.left, scope) as boolean) || (evaluate(e.right, scope) as boolean);
        const a = evaluate(e.left, scope) as number;
        const b = evaluate(e.right, scope) as number;
        switch (e.op) {
          case "==":
            return a === b;
          case "!=":
            return a !== b;
          case ">":
            return a > b;
          case "<":
            return a < b;
          case ">=":
            return a >= b;
          case "<=":
            return a <= b;
          case "+":
            return a + b;
          case "-":
            return a - b;
          case "*":
            return a * b;
        }
        throw new Error(`operator ${e.op}`);
      }
    }
  };

  return {
    params: declared.params,
    vars: [...declared.vars.keys()],
    resources: new Map([...declared.resources].map(([k, v]) => [k, v.type])),
    variable: (name) => lookup(name, new Map()),
    resource: (symbol) => {
      const r = declared.resources.get(symbol);
      if (!r) throw new Error(`no resource ${symbol}`);
      return evaluate(r.body, new Map());
    },
  };
}

/** Interpolated values: strings as they are, numbers and booleans as text (ARM's string conversion). */
function interpolate(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`cannot interpolate ${JSON.stringify(v)}`);
}

function children(e: Expr): Expr[] {
  switch (e.k) {
    case "lit":
    case "id":
      return [];
    case "str":
      return e.parts.filter((p): p is Expr => typeof p !== "string");
    case "member":
      return [e.obj];
    case "index":
      return [e.obj, e.index];
    case "call":
      return e.args;
    case "obj":
      return e.entries.map(([, v]) => v);
    case "arr":
      return e.items;
    case "for":
      return [e.source, e.body];
    case "lambda":
      return [e.body];
    case "cond":
      return [e.test, e.yes, e.no];
    case "bin":
      return [e.left, e.right];
    case "not":
      return [e.e];
  }
}

/**
 * The literal text of every string of a Bicep file, outside comments and decorators, interpolations
 * included (each interpolated expression's place marked with a NUL).
 */
export function stringLiterals(source: string): string[] {
  const out: string[] = [];
  const walk = (e: Expr): void => {
    if (e.k === "str") out.push(e.parts.map((p) => (typeof p === "string" ? p : "\u0000")).join(""));
    children(e).forEach(walk);
  };
  let decorator = false;
  for (const t of tokenize(source)) {
    if (t.t === "op" && t.v === "@") decorator = true;
    if (t.t === "nl") decorator = false;
    if (t.t === "str" && !decorator) walk({ k: "str", parts: t.parts });
  }
  return out;
}

/** Numbers written in a Bicep file outside comments and decorators. */
export function numberLiterals(source: string): number[] {
  const out: number[] = [];
  let decorator = false;
  for (const t of tokenize(source)) {
    if (t.t === "op" && t.v === "@") decorator = true;
    if (t.t === "nl") decorator = false;
    if (t.t === "num" && !decorator) out.push(t.v);
  }
  return out;
}
