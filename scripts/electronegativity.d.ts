// The package ships no types. These describe only what scripts/electronegativity.mjs uses of its
// programmatic API, as node_modules/@doyensec/electronegativity/src/runner.js returns it.
declare module '@doyensec/electronegativity' {
  interface Level {
    name: 'HIGH' | 'MEDIUM' | 'LOW' | 'INFORMATIONAL' | 'CERTAIN' | 'FIRM' | 'TENTATIVE';
    value: number;
  }
  interface Issue {
    id: string;
    /** Relative to the input with `isRelative`; 'N/A' for a global check. */
    file: string;
    description: string;
    severity: Level;
    confidence: Level;
    location: { line: number; column: number };
  }
  interface ScanError {
    file: string;
    message: string;
    /** A parse warning; false: the file was not scanned. */
    tolerable: boolean;
  }
  interface Options {
    input: string;
    isRelative: boolean;
    isVerbose: boolean;
    customScan: string[];
    excludeFromScan: string[];
    electronVersionOverride?: string;
    parserPlugins: string[];
  }
  interface Result {
    globalChecks: number;
    atomicChecks: number;
    errors: ScanError[];
    issues: Issue[];
  }
  function run(options: Options): Promise<Result>;
  export = run;
}
