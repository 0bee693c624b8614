-- The staging database the example DAGs load into (Airflow's metadata lives in the database "airflow").
CREATE DATABASE staging;
