/** See untar.mjs: unpacks the service's ustar archive under `root`, then makes it read-only. */
export declare function untar(buf: Buffer, root: string): void;
