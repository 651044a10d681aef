/* ivl-window-private.h — the chat window's state, shared by its files:
 * ivl-window.c (conversations, models, answers), ivl-window-actions.c (commands),
 * ivl-window-dnd.c (drag and drop, paste, attachments), ivl-window-search.c (finding a
 * conversation), ivl-window-export.c (saving one as Markdown or JSON). */
#pragma once

#include "ivl-export.h"
#include "ivl-folder-watch.h"
#include "ivl-model-list.h"
#include "ivl-servers.h"
#include "ivl-window.h"

struct _IvlWindow {
  AdwApplicationWindow parent_instance;

  /* template widgets */
  AdwToastOverlay *toast_overlay;
  GtkRevealer *error_revealer;
  GtkLabel *error_label;
  GtkWidget *drop_zone; /* shown while files are dragged over the window */
  AdwFlap *flap;
  GtkDropDown *model_dropdown;
  GtkLabel *model_status; /* under the selector: where the loaded model runs, its weights */
  GtkListBox *conversation_list;
  GtkSearchBar *search_bar;
  GtkSearchEntry *search_entry; /* filters the conversation list by title and text */
  GtkStack *main_stack;
  GtkButton *demo_button;
  GtkLabel *demo_label;
  GtkProgressBar *loading_bar;
  GtkLabel *loading_label;
  GtkStack *chat_stack;
  GtkScrolledWindow *message_scroller;
  GtkListView *message_view;
  GtkRevealer *attachments_revealer;
  GtkBox *attachments_box;
  GtkToggleButton *combine_button;
  GtkTextView *input;
  GtkLabel *input_placeholder;
  GtkLabel *app_title;
  GtkStack *send_stack;
  GtkRevealer *edit_revealer; /* says a question is being edited, with Cancel */

  /* borrowed from the application */
  GSettings *settings;
  IvlStore *store;
  IvlWorker *worker;

  /* owned */
  GPtrArray *models;                    /* IvlModelEntry, as in the selector */
  IvlFolderWatch *model_folders;        /* rescans when model folders come or go */
  IvlServers *servers;                  /* the remote models, beside the local ones in models */
  char *loaded_model;                   /* path of the model the worker holds; NULL while none */
  char *loading_model;                  /* path of the model being loaded */
  GCancellable *load_cancellable;       /* set while a model loads */
  IvlConversation *conversation;        /* the one shown */
  IvlConversation *deleted;             /* off the list, its file kept while Undo is offered */
  AdwToast *undo_toast;                 /* the last such offer; NULL before the first */
  gint64 undo_toast_added;              /* when it was added, in g_get_monotonic_time() µs */
  GListStore *attachments;              /* IvlAttachment for the next question */
  IvlMessage *editing;                  /* the question the composer holds to replace; NULL: none */
  GHashTable *answering;                /* conversation id -> Answering, one per conversation */
  gboolean stick_to_bottom;             /* follow the stream while the view is at its end */
  double last_scroll_value, last_upper; /* where the view was, how tall the content */
  gboolean scrolling;                   /* the view is being moved by follow_tick, not the person */
  guint follow_tick;                    /* the tick callback following the end; 0 when none */
  int follow_frames;                    /* frames follow_tick has seen the end stay put */
  gboolean laid_out;                    /* the list has laid out its items since they changed */
};

/* ivl-window.c */
void ivl_window_send(IvlWindow *self);
void ivl_window_stop(IvlWindow *self);
void ivl_window_regenerate(IvlWindow *self);
void ivl_window_continue(IvlWindow *self);
void ivl_window_find_objects(IvlWindow *self);
/* Puts a question of the shown conversation back in the composer; sending it replaces the
 * question and everything after it. */
void ivl_window_edit_question(IvlWindow *self, IvlMessage *question);
void ivl_window_cancel_edit(IvlWindow *self);
IvlConversation *ivl_window_find_conversation(IvlWindow *self, const char *id);
void ivl_window_rename_conversation(IvlWindow *self, const char *id);
/* Opens the settings of the conversation with this id (title, model, system prompt). */
void ivl_window_conversation_settings(IvlWindow *self, const char *id);
/* Sets the model selector to the shown conversation's model, which loads it. */
void ivl_window_use_conversation_model(IvlWindow *self);
void ivl_window_delete_conversation(IvlWindow *self, const char *id);
void ivl_window_undo_delete(IvlWindow *self);
void ivl_window_new_conversation(IvlWindow *self);
void ivl_window_make_demo_model(IvlWindow *self);
IvlAskOptions ivl_window_ask_options(IvlWindow *self);
void ivl_window_update_actions(IvlWindow *self);
void ivl_window_dismiss_error(IvlWindow *self);

/* ivl-window-actions.c */
void ivl_window_install_actions(IvlWindowClass *klass);

/* ivl-window-search.c */
/* Once the list box shows the store's conversations. */
void ivl_window_setup_search(IvlWindow *self);
/* Opens the search bar over the conversation list, or closes it and shows them all. */
void ivl_window_toggle_search(IvlWindow *self);

/* ivl-window-export.c */
/* Asks where to save the conversation with this id, then writes it there. */
void ivl_window_export_conversation(IvlWindow *self, const char *id, IvlExportFormat format);
/* Writes it to path; a toast says where, or the banner why not. */
void ivl_window_export_to(IvlWindow *self, IvlConversation *conversation, IvlExportFormat format,
                          const char *path);

/* ivl-window-dnd.c */
void ivl_window_setup_dnd(IvlWindow *self);
void ivl_window_attach_dialog(IvlWindow *self);
void ivl_window_clear_attachments(IvlWindow *self);
/* Puts the attachments of a question back above the input. */
void ivl_window_restore_attachments(IvlWindow *self, IvlMessage *question);
