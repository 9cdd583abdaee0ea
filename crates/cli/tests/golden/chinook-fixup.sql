-- ferry diff: turns postgresql `public` (B) into mysql as postgresql `<db>` (A)
ALTER TABLE "public"."employee" ALTER COLUMN "birth_date" TYPE timestamp(0) without time zone USING "birth_date"::text::timestamp(0) without time zone;
ALTER TABLE "public"."employee" ALTER COLUMN "hire_date" TYPE timestamp(0) without time zone USING "hire_date"::text::timestamp(0) without time zone;
ALTER TABLE "public"."invoice" ALTER COLUMN "invoice_date" TYPE timestamp(0) without time zone USING "invoice_date"::text::timestamp(0) without time zone;
