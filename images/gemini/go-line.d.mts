/** See go-line.mjs: the gemini image gate's reading of a go line. */
export declare const ENTRYPOINT: string;
export declare const FILES_PREFIX: RegExp;
export declare function shellWords(line: string): string[] | undefined;
export interface GatePlan {
  env: Record<string, string>;
  deadline: { signal: string; seconds: number } | undefined;
  workspace: { workdir: string } | undefined;
  args: string[];
}
export declare function plan(words: string[]): GatePlan | undefined;
