import cron from 'node-cron';

/** The next time `expr` fires after `from`, in `timezone` (minute resolution; used for "next backup at"). */
export function nextRunAfter(expr: string, timezone: string, from: Date): Date | null {
  const task = cron.createTask(expr, () => {}, { timezone });
  try {
    const start = Math.floor(from.getTime() / 60_000) * 60_000 + 60_000;
    for (let t = start; t < start + 32 * 86_400_000; t += 60_000)
      if (task.match(new Date(t))) return new Date(t);
    return task.getNextRun();
  } finally {
    void task.destroy();
  }
}
