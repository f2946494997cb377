#!/usr/bin/env python3
"""Where one decode step's time goes, from an Nsight Compute CSV of a decode run.

    ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \\
        node bench/.cache/build/bench/e2e/decode-profile.js MODEL --tokens 4 --reps 1 > ncu.csv
    python3 bench/kernels/ncu_step.py ncu.csv [--json step.json]

Run eagerly (GPUFORMER_CUDA_GRAPHS=0) so every kernel is its own launch. A decode step ends with its
sampling kernel (argmax or sample); the step measured is the one between the last two of those, i.e. the
last complete decode step of the run. Prints the step's kernel count and time, then the kernels grouped by
name (time, share, launches), most expensive first; --json writes the same as JSON.
"""
import argparse
import collections
import csv
import io
import json
import re
import sys


def kernel_rows(path):
    # ncu prints its own progress lines and the program's output before and among the CSV rows
    lines = [line for line in open(path, encoding='utf-8', errors='replace') if line.startswith('"')]
    rows = list(csv.DictReader(io.StringIO(''.join(lines))))
    return [r for r in rows if r.get('Metric Name') == 'gpu__time_duration.sum']


def short_name(name):
    """The kernel's name without its template arguments' noise: 'void gf::(anon)::rope_kernel<__half>(…)' → 'rope_kernel<__half>'."""
    name = re.sub(r'\(.*$', '', name)                      # the parameter list
    name = re.sub(r'^void\s+', '', name)
    name = re.sub(r'gf::(cuda::)?(\(anonymous namespace\)|<unnamed>)::', '', name)
    return name[:100]


def is_sampling(name):
    n = name.lower()
    return 'argmax' in n or 'sample_kernel' in n


def last_step(rows):
    marks = [i for i, r in enumerate(rows) if is_sampling(r['Kernel Name'])]
    if len(marks) < 2:
        raise SystemExit(f'need at least two sampling kernels (two decode steps) in the profile, found {len(marks)}')
    return rows[marks[-2] + 1: marks[-1] + 1]


def breakdown(step):
    total_ns = collections.Counter()
    launches = collections.Counter()
    for r in step:
        n = short_name(r['Kernel Name'])
        total_ns[n] += float(r['Metric Value'].replace(',', ''))
        launches[n] += 1
    step_ns = sum(total_ns.values())
    kernels = [{'kernel': n, 'us': t / 1e3, 'share': t / step_ns, 'launches': launches[n]} for n, t in total_ns.most_common()]
    return {'kernels_in_step': len(step), 'step_us': step_ns / 1e3, 'by_kernel': kernels}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('csv')
    ap.add_argument('--json', help='also write the breakdown here')
    args = ap.parse_args()
    rows = kernel_rows(args.csv)
    if not rows:
        raise SystemExit(f'{args.csv}: no gpu__time_duration.sum rows (did ncu run?)')
    b = breakdown(last_step(rows))
    b['kernels_profiled'] = len(rows)
    print(f"kernels profiled: {len(rows)}; last decode step: {b['kernels_in_step']} kernels, {b['step_us']:.1f} us of kernel time")
    print('| kernel | us | share | launches |\n|---|---:|---:|---:|')
    for k in b['by_kernel']:
        print(f"| {k['kernel']} | {k['us']:.1f} | {100 * k['share']:.1f} % | {k['launches']} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(b, f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
