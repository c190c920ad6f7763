export declare const RUNSC_RUNTIMES: Record<'ephemera-runsc' | 'ephemera-runsc-net', 'none' | 'host'>;
