import pg from 'pg';

/**
 * A small app-like schema, as a Django app on a PaaS would have: users, customers, meters, transactions
 * and Django's own migrations table, so every part of dbwarden has something real to show.
 */
export async function seedDemo(url: string, scale = 1): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('public.billing_transaction') IS NOT NULL AS ok`);
    if (exists.rows[0].ok) return;
    await client.query('BEGIN');
    await client.query(`
      CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT NULL);
      CREATE TABLE auth_user (id serial PRIMARY KEY, username varchar(150) UNIQUE NOT NULL, email varchar(254) NOT NULL,
        password varchar(128) NOT NULL, is_staff boolean NOT NULL DEFAULT false, date_joined timestamptz NOT NULL DEFAULT now());
      CREATE TABLE billing_customer (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, created timestamptz NOT NULL DEFAULT now());
      CREATE TABLE billing_meter (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES billing_customer(id), serial text UNIQUE NOT NULL, kind text NOT NULL);
      CREATE TABLE billing_transaction (id bigserial PRIMARY KEY, meter_id int NOT NULL REFERENCES billing_meter(id),
        amount_cents int NOT NULL, note text, created timestamptz NOT NULL DEFAULT now());
      CREATE INDEX ON billing_transaction (meter_id, created);
    `);
    await client.query(
      `INSERT INTO django_migrations (app, name, applied)
       SELECT app, name, now() - (n || ' days')::interval FROM (VALUES
         ('contenttypes', '0001_initial', 40), ('auth', '0001_initial', 40), ('auth', '0012_alter_user_first_name_max_length', 40),
         ('billing', '0001_initial', 30), ('billing', '0002_meter_kind', 12), ('billing', '0003_transaction_note', 2)) AS m(app, name, n)`,
    );
    await client.query(
      `INSERT INTO auth_user (username, email, password, is_staff)
       SELECT 'user' || i, 'user' || i || '@example.com', 'pbkdf2_sha256$demo', i <= 2 FROM generate_series(1, $1::int) i`,
      [40 * scale],
    );
    await client.query(
      `INSERT INTO billing_customer (name, email) SELECT 'Customer ' || i, 'billing' || i || '@example.com' FROM generate_series(1, $1::int) i`,
      [250 * scale],
    );
    await client.query(
      `INSERT INTO billing_meter (customer_id, serial, kind)
       SELECT 1 + (i % $1::int), 'M-' || lpad(i::text, 6, '0'), (ARRAY['power','water','gas'])[1 + i % 3] FROM generate_series(1, $2::int) i`,
      [250 * scale, 600 * scale],
    );
    await client.query(
      `INSERT INTO billing_transaction (meter_id, amount_cents, note, created)
       SELECT 1 + (i % $1::int), (random() * 10000)::int, CASE WHEN i % 7 = 0 THEN 'adjustment' END, now() - (i || ' minutes')::interval
       FROM generate_series(1, $2::int) i`,
      [600 * scale, 20000 * scale],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
