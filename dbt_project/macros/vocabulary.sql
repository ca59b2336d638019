{#- Generated from platform/dataflywheel/contracts/vocabulary.py by `dataflywheel setup`
    (contracts/dbt_vocabulary.py). Do not edit by hand: edit vocabulary.py and run the setup. -#}

{#- Lists of quoted values, for `column in (...)`. -#}
{% macro event_types() %}'issue_commented', 'issue_created', 'issue_transitioned', 'issue_viewed', 'page_commented', 'page_created', 'page_edited', 'page_shared', 'page_viewed', 'rec_click', 'rec_impression', 'search_performed'{% endmacro %}
{% macro item_types() %}'confluence_page', 'jira_issue'{% endmacro %}
{% macro products() %}'confluence', 'home_feed', 'jira', 'search'{% endmacro %}
{% macro surfaces() %}'direct', 'home_feed', 'notification', 'search'{% endmacro %}
{% macro roles() %}'designer', 'developer', 'marketing', 'product_manager', 'support'{% endmacro %}
{% macro comment_events() %}'issue_commented', 'page_commented'{% endmacro %}
{% macro confluence_events() %}'page_commented', 'page_created', 'page_edited', 'page_shared', 'page_viewed'{% endmacro %}
{% macro edit_events() %}'issue_transitioned', 'page_edited'{% endmacro %}
{% macro engagement_events() %}'issue_commented', 'issue_transitioned', 'page_commented', 'page_edited', 'page_shared'{% endmacro %}
{% macro feed_events() %}'rec_click', 'rec_impression'{% endmacro %}
{% macro interaction_events() %}'issue_commented', 'issue_created', 'issue_transitioned', 'issue_viewed', 'page_commented', 'page_created', 'page_edited', 'page_shared', 'page_viewed', 'rec_click'{% endmacro %}
{% macro jira_events() %}'issue_commented', 'issue_created', 'issue_transitioned', 'issue_viewed'{% endmacro %}
{% macro open_events() %}'issue_viewed', 'page_viewed', 'rec_click'{% endmacro %}
{% macro share_events() %}'page_shared'{% endmacro %}
{% macro view_events() %}'issue_viewed', 'page_viewed'{% endmacro %}

{#- Single quoted values, for `column = ...`. -#}
{% macro event_type_issue_viewed() %}'issue_viewed'{% endmacro %}
{% macro event_type_issue_created() %}'issue_created'{% endmacro %}
{% macro event_type_issue_transitioned() %}'issue_transitioned'{% endmacro %}
{% macro event_type_issue_commented() %}'issue_commented'{% endmacro %}
{% macro event_type_page_viewed() %}'page_viewed'{% endmacro %}
{% macro event_type_page_created() %}'page_created'{% endmacro %}
{% macro event_type_page_edited() %}'page_edited'{% endmacro %}
{% macro event_type_page_commented() %}'page_commented'{% endmacro %}
{% macro event_type_page_shared() %}'page_shared'{% endmacro %}
{% macro event_type_search_performed() %}'search_performed'{% endmacro %}
{% macro event_type_rec_impression() %}'rec_impression'{% endmacro %}
{% macro event_type_rec_click() %}'rec_click'{% endmacro %}
{% macro item_type_jira_issue() %}'jira_issue'{% endmacro %}
{% macro item_type_confluence_page() %}'confluence_page'{% endmacro %}
{% macro product_jira() %}'jira'{% endmacro %}
{% macro product_confluence() %}'confluence'{% endmacro %}
{% macro product_home_feed() %}'home_feed'{% endmacro %}
{% macro product_search() %}'search'{% endmacro %}
{% macro surface_home_feed() %}'home_feed'{% endmacro %}
{% macro surface_search() %}'search'{% endmacro %}
{% macro surface_direct() %}'direct'{% endmacro %}
{% macro surface_notification() %}'notification'{% endmacro %}
{% macro role_developer() %}'developer'{% endmacro %}
{% macro role_product_manager() %}'product_manager'{% endmacro %}
{% macro role_designer() %}'designer'{% endmacro %}
{% macro role_support() %}'support'{% endmacro %}
{% macro role_marketing() %}'marketing'{% endmacro %}

{#- The product an event type belongs to (null for an unknown event type). -#}
{% macro product_of(event_type_column) -%}
    case
        when {{ event_type_column }} in ('page_commented', 'page_created', 'page_edited', 'page_shared', 'page_viewed') then 'confluence'
        when {{ event_type_column }} in ('rec_click', 'rec_impression') then 'home_feed'
        when {{ event_type_column }} in ('issue_commented', 'issue_created', 'issue_transitioned', 'issue_viewed') then 'jira'
        when {{ event_type_column }} in ('search_performed') then 'search'
    end
{%- endmacro %}

{#- Rows whose non-null column value is not in the named vocabulary, one of the lists above. -#}
{% test in_vocabulary(model, column_name, vocabulary) %}
{%- set lists = {
    'event_types': event_types(),
    'item_types': item_types(),
    'products': products(),
    'surfaces': surfaces(),
    'roles': roles(),
    'comment_events': comment_events(),
    'confluence_events': confluence_events(),
    'edit_events': edit_events(),
    'engagement_events': engagement_events(),
    'feed_events': feed_events(),
    'interaction_events': interaction_events(),
    'jira_events': jira_events(),
    'open_events': open_events(),
    'share_events': share_events(),
    'view_events': view_events()
} -%}
{%- if vocabulary not in lists -%}
    {{ exceptions.raise_compiler_error(
        "in_vocabulary: unknown vocabulary '" ~ vocabulary ~ "'; known: " ~ (lists.keys() | sort | join(', '))
    ) }}
{%- endif %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null and {{ column_name }} not in ({{ lists[vocabulary] }})
{% endtest %}
