import { bigIntToIp, cidrContains, ipToBigInt, parseCidr, type Cidr, type Family } from './ipnet.ts';

/**
 * Hands out service ClusterIPs from one CIDR. Like the real allocator, dynamic picks avoid the low
 * "static" band so addresses chosen by hand there (the DNS service's .10, say) stay free; unlike it,
 * the pick is sequential so demos and tests see stable addresses.
 */
export class IpAllocator {
  readonly cidr: Cidr;
  readonly #used = new Set<bigint>();
  readonly #first: bigint; // lowest usable offset
  readonly #last: bigint; // highest usable offset
  readonly #static: bigint;
  #cursor: bigint;

  constructor(cidrText: string) {
    this.cidr = parseCidr(cidrText);
    const { size, family } = this.cidr;
    // The network address is never handed out; IPv4 also keeps its broadcast address.
    this.#first = 1n;
    this.#last = family === 'IPv4' ? size - 2n : size - 1n;
    if (this.#last < this.#first) throw new Error(`service CIDR ${cidrText} is too small`);
    const band = size / 16n < 16n ? 16n : size / 16n > 256n ? 256n : size / 16n;
    this.#static = band < this.#last ? band : 0n;
    this.#cursor = this.#static > 0n ? this.#static : this.#first;
  }

  get family(): Family {
    return this.cidr.family;
  }

  contains(ip: string): boolean {
    return cidrContains(this.cidr, ip);
  }

  /** Reserves `ip`; false if it is outside the range or taken. */
  take(ip: string): boolean {
    if (!this.contains(ip)) return false;
    const off = ipToBigInt(ip) - this.cidr.base;
    if (off < this.#first || off > this.#last || this.#used.has(off)) return false;
    this.#used.add(off);
    return true;
  }

  inRange(ip: string): boolean {
    if (!this.contains(ip)) return false;
    const off = ipToBigInt(ip) - this.cidr.base;
    return off >= this.#first && off <= this.#last;
  }

  allocate(): string | undefined {
    const span = this.#last - this.#first + 1n;
    for (let i = 0n; i < span; i++) {
      const off = this.#cursor;
      this.#cursor = off >= this.#last ? this.#first : off + 1n;
      if (!this.#used.has(off)) {
        this.#used.add(off);
        return bigIntToIp(this.cidr.base + off, this.family);
      }
    }
    return undefined;
  }

  release(ip: string): void {
    if (this.contains(ip)) this.#used.delete(ipToBigInt(ip) - this.cidr.base);
  }
}

/** NodePorts (and healthCheckNodePorts) from one range, sequential above a small static band. */
export class PortAllocator {
  readonly min: number;
  readonly max: number;
  readonly #used = new Set<number>();
  #cursor: number;

  constructor([min, max]: [number, number]) {
    if (!(min > 0 && max <= 65535 && min <= max)) throw new Error(`invalid port range ${min}-${max}`);
    this.min = min;
    this.max = max;
    const size = max - min + 1;
    const band = Math.min(Math.max(16, Math.floor(size / 32)), 128);
    this.#cursor = band < size ? min + band : min;
  }

  inRange(port: number): boolean {
    return Number.isInteger(port) && port >= this.min && port <= this.max;
  }

  take(port: number): boolean {
    if (!this.inRange(port) || this.#used.has(port)) return false;
    this.#used.add(port);
    return true;
  }

  allocate(): number | undefined {
    for (let i = 0; i <= this.max - this.min; i++) {
      const p = this.#cursor;
      this.#cursor = p >= this.max ? this.min : p + 1;
      if (!this.#used.has(p)) {
        this.#used.add(p);
        return p;
      }
    }
    return undefined;
  }

  release(port: number): void {
    this.#used.delete(port);
  }
}

/**
 * The allocations of one write. Fresh reservations are undone if the write fails or is a dry run;
 * releases of the old object's values wait for the write to succeed.
 */
export class AllocTx {
  readonly #undo: (() => void)[] = [];
  readonly #onCommit: (() => void)[] = [];

  reserved(undo: () => void): void {
    this.#undo.push(undo);
  }

  releaseOnCommit(fn: () => void): void {
    this.#onCommit.push(fn);
  }

  commit(): void {
    for (const f of this.#onCommit) f();
    this.#undo.length = 0;
    this.#onCommit.length = 0;
  }

  rollback(): void {
    for (const f of this.#undo.reverse()) f();
    this.#undo.length = 0;
    this.#onCommit.length = 0;
  }
}
