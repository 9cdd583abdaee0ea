-- ferry diff: turns postgresql `<db>` (B) into mysql as postgresql `<db>` (A)
ALTER TABLE "<db>"."actor" ADD COLUMN "last_update" timestamp(0) with time zone DEFAULT current_timestamp NOT NULL;
ALTER TABLE "<db>"."customer" ALTER COLUMN "email" DROP NOT NULL;
ALTER TABLE "<db>"."film" ALTER COLUMN "title" TYPE character varying(255) USING "title"::text::character varying(255);
ALTER TABLE "<db>"."film" ALTER COLUMN "rental_rate" SET DEFAULT 4.99;
CREATE INDEX "actor_idx_actor_last_name" ON "<db>"."actor" USING btree ("last_name");
ALTER TABLE "<db>"."payment" ADD CONSTRAINT "fk_payment_rental" FOREIGN KEY ("rental_id") REFERENCES "<db>"."rental" ("rental_id") ON DELETE SET NULL ON UPDATE CASCADE;
-- view actor_info: written for mysql as postgresql, port its definition by hand
-- view customer_list: written for mysql as postgresql, port its definition by hand
-- view film_list: written for mysql as postgresql, port its definition by hand
-- view nicer_but_slower_film_list: written for mysql as postgresql, port its definition by hand
-- view sales_by_film_category: written for mysql as postgresql, port its definition by hand
-- view sales_by_store: written for mysql as postgresql, port its definition by hand
-- view staff_list: written for mysql as postgresql, port its definition by hand
-- objects only B has, not dropped (run with --allow-drop to drop them):
--   DROP INDEX "<db>"."extra_idx";
--   ALTER TABLE "<db>"."store" DROP COLUMN "note";
--   DROP TABLE "<db>"."extra";
