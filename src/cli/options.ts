// Option parsers shared by subcommands: a bad value is a UsageError (exit 2) naming the flag.
import { InvalidArgumentError } from 'commander';

export function intOption(flag: string, min = 1): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${flag} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}
