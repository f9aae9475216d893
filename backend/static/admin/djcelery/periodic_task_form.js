// django-celery-beat's periodic task form: the chosen crontab, in words, under its help
// text. Its own template does this in an inline script, which the Content-Security-Policy
// refuses; templates/admin/djcelery/change_periodictask_form.html loads this file instead.
'use strict';
{
    const $ = django.jQuery;
    $(function() {
        const data = document.getElementById('readable-crontabs');
        const readableCrontabs = data ? JSON.parse(data.textContent) || {} : {};
        const help = $('.field-crontab .help');
        const originalHelp = help.html();
        $('.field-crontab_translation').hide();
        $('.field-crontab').change(function() {
            const words = readableCrontabs[$('#id_crontab').val()];
            help.html(originalHelp);
            if (words) {
                help.append('<br>', document.createTextNode(`Translation: ${words}`));
            }
        });
    });
}
