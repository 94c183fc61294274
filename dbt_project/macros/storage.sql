{#- How a model of one row per flight and day replaces the days of a build, so that building a
    day twice gives the same table: DuckDB (and Trino) delete the window's days and insert them
    again; Spark overwrites the window's day partitions of a Parquet table, each whole. -#}
{% macro replace_days_config() -%}
    {{ return(adapter.dispatch('replace_days_config')()) }}
{%- endmacro %}

{% macro default__replace_days_config() -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': 'flight_date'}) }}
{%- endmacro %}

{% macro spark__replace_days_config() -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': ['flight_date'],
               'file_format': 'parquet'}) }}
{%- endmacro %}

{#- On Spark the raw tables are Parquet folders partitioned by day in the lake, Spark's
    warehouse directory (<lake>/raw/<table>/partition_date=<day>/), written by the platform's
    ingest (spark/lake.py): each is a view here, so that a day landed since is read without any
    catalog change. A build registers the sources its models read (a source not landed yet has
    no folder, and a view of it could not be made). -#}
{% macro register_raw_lake() -%}
    {%- if target.type == 'spark' and execute -%}
        {%- set lake = run_query('set spark.sql.warehouse.dir').columns[1].values()[0] -%}
        {%- set read = [] -%}
        {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
            {%- for parent in graph.nodes[unique_id].depends_on.nodes
                if parent in graph.sources and graph.sources[parent].source_name == 'raw' -%}
                {%- do read.append(graph.sources[parent].name) -%}
            {%- endfor -%}
        {%- endfor -%}
        {% do run_query('create schema if not exists raw') %}
        {%- for table in read | unique | sort -%}
            {% do run_query('create or replace view raw.' ~ table ~ ' as select * from'
                            ~ ' parquet.`' ~ lake ~ '/raw/' ~ table ~ '`') %}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
