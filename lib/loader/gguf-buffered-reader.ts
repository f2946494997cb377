/**
 * Sequential little-endian reads from a file through a window buffer that is refilled in chunks, so a GGUF
 * header (tens of MB of vocabulary in large models) is parsed without reading the file whole. Every read is
 * checked against the file size first: running past the end is a truncated file, reported with what was being
 * read and where.
 */
import { badWeights } from '../errors';

/** Where the bytes come from: a file (fs FileHandle) or anything that reads a range the same way (a remote file). */
export interface ByteSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

const CHUNK = 1 << 20;
const utf8 = new TextDecoder('utf-8');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

export class BufferedReader {
  private buf = Buffer.allocUnsafe(CHUNK);
  /** file offset of buf[0] */
  private bufStart = 0;
  /** read position inside buf */
  private pos = 0;
  /** bytes of buf holding file data */
  private end = 0;

  constructor(private readonly fh: ByteSource, readonly fileSize: number, private readonly label: string) {}

  /** The file offset of the next byte to be read. */
  get offset(): number {
    return this.bufStart + this.pos;
  }

  /** Bytes between the read position and the end of the file. */
  get remaining(): number {
    return this.fileSize - this.offset;
  }

  /** True when n more bytes are already buffered (the synchronous reads below may then be used). */
  has(n: number): boolean {
    return this.end - this.pos >= n;
  }

  /** Makes n bytes available to the synchronous reads, refilling the window; `what` names them for errors. */
  async need(n: number, what: string): Promise<void> {
    if (this.has(n)) return;
    if (n > this.remaining) {
      throw badWeights(`${this.label}: truncated file: ${what} needs ${n} bytes at offset ${this.offset}, ` +
        `but the file ends at ${this.fileSize}`);
    }
    const kept = this.end - this.pos;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, 2 * this.buf.length));
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.pos, this.end);
    }
    this.bufStart += this.pos;
    this.pos = 0;
    this.end = kept;
    const want = Math.min(this.buf.length - this.end, this.fileSize - (this.bufStart + this.end));
    let filled = 0;
    while (this.end < n || filled < want) {
      const { bytesRead } = await this.fh.read(this.buf, this.end, want - filled, this.bufStart + this.end);
      if (bytesRead === 0) {
        if (this.end >= n) break;
        throw badWeights(`${this.label}: the file shrank while it was read (${what} at offset ${this.offset})`);
      }
      this.end += bytesRead;
      filled += bytesRead;
    }
  }

  u8(): number {
    return this.buf[this.pos++];
  }
  i8(): number {
    return this.take(1, Buffer.prototype.readInt8);
  }
  u16(): number {
    return this.take(2, Buffer.prototype.readUInt16LE);
  }
  i16(): number {
    return this.take(2, Buffer.prototype.readInt16LE);
  }
  u32(): number {
    return this.take(4, Buffer.prototype.readUInt32LE);
  }
  i32(): number {
    return this.take(4, Buffer.prototype.readInt32LE);
  }
  u64(): bigint {
    return this.take(8, Buffer.prototype.readBigUInt64LE);
  }
  i64(): bigint {
    return this.take(8, Buffer.prototype.readBigInt64LE);
  }
  f32(): number {
    return this.take(4, Buffer.prototype.readFloatLE);
  }
  f64(): number {
    return this.take(8, Buffer.prototype.readDoubleLE);
  }

  /** One `bytes`-wide value at the read position, read by a Buffer method; the position moves past it. */
  private take<T>(bytes: number, read: (this: Buffer, offset: number) => T): T {
    const v = read.call(this.buf, this.pos);
    this.pos += bytes;
    return v;
  }

  /**
   * A length-prefixed string when its length field and bytes are all buffered and the length is plausible
   * (the hot path for vocabularies); undefined otherwise, leaving the position unchanged for the checked path.
   */
  bufferedString(): string | undefined {
    if (!this.has(8)) return undefined;
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    if (hi !== 0 || !this.has(8 + lo)) return undefined;
    const start = this.pos + 8;
    this.pos = start + lo;
    return this.buf.toString('utf8', start, start + lo);
  }

  /** n buffered bytes as UTF-8; strict: invalid UTF-8 is an error (for keys and names), else U+FFFD. */
  utf8(n: number, strict: boolean): string | undefined {
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (!strict) return utf8.decode(bytes);
    try {
      return utf8Strict.decode(bytes);
    } catch {
      return undefined;
    }
  }
}
